using System.Text.RegularExpressions;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Calibration;

/// <summary>A weight left out by the user's selection, and why.</summary>
/// <param name="Name">The weight.</param>
/// <param name="Op">The op reading it.</param>
/// <param name="Reason">Which option excluded it.</param>
public sealed record ExcludedWeight(string Name, string Op, string Reason);

/// <summary>
/// Which weights the user's options select: the op types to quantize (ONNX Runtime's <c>op_types_to_quantize</c>,
/// our <c>--ops</c>), the nodes to exclude (ORT's <c>nodes_to_exclude</c>: a weight any of whose reading nodes is
/// named there is left alone) and <c>--exclude</c> regular expressions on weight names. Every pattern that matched
/// nothing is reported by name (<see cref="Unmatched"/>); with strict options that is an error.
/// </summary>
public sealed class CalibrationScope
{
    private CalibrationScope(IReadOnlyList<ExcludedWeight> excluded, IReadOnlyList<string> unmatched, IReadOnlySet<string> excludedNames)
    {
        Excluded = excluded;
        Unmatched = unmatched;
        ExcludedNames = excludedNames;
    }

    /// <summary>Weights left out by a node name or a regular expression (they stay float32: the recipe says so).</summary>
    public IReadOnlyList<ExcludedWeight> Excluded { get; }

    /// <summary>Names of <see cref="Excluded"/>.</summary>
    public IReadOnlySet<string> ExcludedNames { get; }

    /// <summary>One line per pattern that matched nothing (<c>--nodes-to-exclude 'x'</c>, <c>--exclude 'y'</c>, <c>--op-types-to-quantize 'Conv'</c>).</summary>
    public IReadOnlyList<string> Unmatched { get; }

    /// <summary>Resolves the options against <paramref name="model"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="strict"/> and a pattern matched nothing; the message names every such pattern.</exception>
    public static CalibrationScope Resolve(OnnxModel model, IReadOnlySet<string>? ops, IReadOnlyCollection<string> nodesToExclude, IReadOnlyList<Regex> exclude, bool strict)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(nodesToExclude);
        ArgumentNullException.ThrowIfNull(exclude);
        var weights = WeightFinder.Find(model).Candidates;
        var excluded = new List<ExcludedWeight>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var unmatched = new List<string>();
        var allNodes = model.Graph.SelfAndDescendants().SelectMany(g => g.Nodes).Select(n => n.Name).Where(n => n.Length > 0).ToHashSet(StringComparer.Ordinal);
        foreach (string node in nodesToExclude)
        {
            if (!allNodes.Contains(node))
            {
                unmatched.Add($"--nodes-to-exclude '{node}': no node of that name");
                continue;
            }
            var hit = weights.Where(c => c.Uses.Any(u => u.Node.Name == node)).ToList();
            if (hit.Count == 0) unmatched.Add($"--nodes-to-exclude '{node}': the node reads no quantizable weight");
            foreach (var c in hit)
                if (names.Add(c.Name)) excluded.Add(new ExcludedWeight(c.Name, c.Op, $"read by node '{node}' (--nodes-to-exclude)"));
        }
        foreach (var regex in exclude)
        {
            var hit = weights.Where(c => regex.IsMatch(c.Name)).ToList();
            if (hit.Count == 0) unmatched.Add($"--exclude '{regex}': matches no weight");
            foreach (var c in hit)
                if (names.Add(c.Name)) excluded.Add(new ExcludedWeight(c.Name, c.Op, $"matches --exclude '{regex}'"));
        }
        foreach (string op in ops ?? new HashSet<string>())
            if (!weights.Any(c => c.Uses.Any(u => u.Op == op)))
                unmatched.Add($"--op-types-to-quantize '{op}': the model has no {op} weight");
        if (strict && unmatched.Count > 0)
            throw new ArgumentException($"--strict: {string.Join("; ", unmatched)}");
        return new CalibrationScope(excluded, unmatched, names);
    }
}
