using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Finds the weights of MatMul (B), Gemm (B), Conv (W) and Gather (data) in every graph of a model, subgraphs
/// included, with all of their uses, and works out the MX layout each use needs.
/// </summary>
public static class WeightFinder
{
    /// <summary>Which input of each supported operator is its weight.</summary>
    public static readonly IReadOnlyDictionary<string, int> WeightInputs = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["MatMul"] = 1, ["Gemm"] = 1, ["Conv"] = 1, ["Gather"] = 0,
    };

    /// <summary>All constants of the model with the nodes (and graph outputs) that read them.</summary>
    public sealed record ConstantUses(ConstantValue Constant, List<WeightUse> Uses, bool IsGraphOutput);

    /// <summary>The weight candidates of <paramref name="model"/>, in graph order, and every other used constant.</summary>
    public static (IReadOnlyList<WeightCandidate> Candidates, IReadOnlyList<ConstantUses> Others) Find(OnnxModel model)
    {
        var byKey = new Dictionary<(OnnxGraph, string), ConstantUses>();
        var order = new List<ConstantUses>();
        foreach (var graph in model.Graph.SelfAndDescendants())
        {
            foreach (var node in graph.Nodes)
                for (int i = 0; i < node.Input.Count; i++)
                {
                    if (node.Input[i].Length == 0) continue;
                    var entry = Lookup(graph, node.Input[i], byKey, order);
                    entry?.Uses.Add(new WeightUse(graph, node, i));
                }
            foreach (var output in graph.Proto.Output)
            {
                var entry = Lookup(graph, output.Name, byKey, order);
                if (entry != null) byKey[(entry.Constant.Graph, entry.Constant.Name)] = entry with { IsGraphOutput = true };
            }
        }
        var candidates = new List<WeightCandidate>();
        var others = new List<ConstantUses>();
        foreach (var original in order)
        {
            var entry = byKey[(original.Constant.Graph, original.Constant.Name)];
            if (entry.Uses.Any(IsWeightUse)) candidates.Add(Analyze(entry));
            else others.Add(entry);
        }
        return (candidates, others);
    }

    /// <summary>Whether the use is the weight input of a supported default-domain operator.</summary>
    public static bool IsWeightUse(WeightUse use) =>
        use.Node.Domain is "" or "ai.onnx" && WeightInputs.TryGetValue(use.Op, out int slot) && slot == use.InputIndex;

    private static ConstantUses? Lookup(OnnxGraph graph, string name, Dictionary<(OnnxGraph, string), ConstantUses> byKey, List<ConstantUses> order)
    {
        var constant = graph.FindConstant(name);
        if (constant is null) return null;
        var key = (constant.Graph, constant.Name);
        if (!byKey.TryGetValue(key, out var entry))
        {
            byKey[key] = entry = new ConstantUses(constant, [], false);
            order.Add(entry);
        }
        return entry;
    }

    private static WeightCandidate Analyze(ConstantUses entry)
    {
        var c = entry.Constant;
        var uses = entry.Uses;
        if (c.ElementType != TensorElementType.Float)
            return new WeightCandidate(c, uses, [], $"element type {c.ElementType.OnnxName()}: only float32 weights are quantized");
        if (entry.IsGraphOutput)
            return new WeightCandidate(c, uses, [], "it is also a graph output");
        var other = uses.FirstOrDefault(u => !IsWeightUse(u));
        if (other != null)
            return new WeightCandidate(c, uses, [], $"it also feeds input {other.InputIndex} of {other.Op} '{other.NodeName}', which is not the weight input of a supported op");
        var layouts = new List<(WeightLayout Layout, WeightUse Use)>();
        foreach (var use in uses)
        {
            var (layout, problem) = LayoutOf(use, c.Shape);
            if (problem != null) return new WeightCandidate(c, uses, [], problem);
            layouts.Add((layout!, use));
        }
        var groups = layouts.GroupBy(l => l.Layout).Select(g => new LayoutGroup(g.Key, g.Select(x => x.Use).ToList())).ToList();
        return new WeightCandidate(c, uses, groups, null);
    }

    /// <summary>The layout a use needs, or why the use cannot take a quantized weight.</summary>
    public static (WeightLayout? Layout, string? Problem) LayoutOf(WeightUse use, long[] shape)
    {
        string where = $"{use.Op} '{use.NodeName}'";
        if (shape.Any(d => d <= 0 || d > int.MaxValue)) return (null, $"{where}: shape [{string.Join(", ", shape)}] has an empty or oversized dimension");
        int[] s = shape.Select(d => (int)d).ToArray();
        switch (use.Op)
        {
            case "MatMul":
                if (s.Length != 2) return (null, $"{where}: MatMul B is {s.Length}-D, not 2-D");
                return (new WeightLayout(s, 0), null);
            case "Gemm":
                if (s.Length != 2) return (null, $"{where}: Gemm B is {s.Length}-D, not 2-D");
                return GetInt(use.Node, "transB", 0) != 0 ? (new WeightLayout(s, 1), null) : (new WeightLayout(s, 0), null);
            case "Conv":
                if (s.Length < 3) return (null, $"{where}: Conv weight is {s.Length}-D");
                long r = s.Skip(1).Aggregate(1L, (a, b) => a * b);
                if (r > int.MaxValue) return (null, $"{where}: reduction length {r} is too long");
                return (new WeightLayout([s[0], (int)r], 1), null);
            case "Gather":
                long axis = GetInt(use.Node, "axis", 0);
                if (axis != 0) return (null, $"{where}: Gather on axis {axis}, only axis 0 (embedding lookup) is quantized");
                if (s.Length != 2) return (null, $"{where}: the table is {s.Length}-D, only 2-D tables are quantized");
                return (new WeightLayout(s, 1), null);
            default:
                return (null, $"{where}: not a supported op");
        }
    }

    /// <summary>The int attribute <paramref name="name"/> of <paramref name="node"/>, or <paramref name="fallback"/> when absent.</summary>
    public static long GetInt(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;

    /// <summary>The float attribute <paramref name="name"/> of <paramref name="node"/>, or <paramref name="fallback"/> when absent.</summary>
    public static float GetFloat(NodeProto node, string name, float fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : fallback;
}
