using Mx.Calibration.Evaluation;

namespace Mx.Calibration.Selection;

/// <summary>
/// How much a tensor's layer-local error moves the model's output: the output error measured with the tensor (or its
/// group) alone at its coarsest candidate, divided by the layer-local error of that candidate. A candidate's predicted
/// output error is its local error times these factors.
/// </summary>
/// <param name="Nsr">Output NSR per unit of local error.</param>
/// <param name="Kl">Output KL per unit of local error (null when the outputs are not class scores).</param>
/// <param name="Measured">The output error of the sensitivity run.</param>
/// <param name="Candidate">The candidate the run used.</param>
/// <param name="Group">The run (tensors of one group share it).</param>
public sealed record Sensitivity(double Nsr, double? Kl, OutputError Measured, string Candidate, int Group)
{
    /// <summary>The factor for the objective: KL when <paramref name="kl"/> and available, else NSR.</summary>
    public double Objective(bool kl) => kl && Kl is double k ? k : Nsr;
}

/// <summary>
/// Measures sensitivities with at most one whole-model run per tensor: each tensor alone at its coarsest candidate,
/// or, when there are more tensors than <c>maxRuns</c>, contiguous groups (in graph order) quantized together, whose
/// factor is the group's measured error over the sum of its tensors' local errors. Never one run per candidate.
/// </summary>
public static class SensitivityRuns
{
    /// <summary>Measures the sensitivity of each entry of <paramref name="tensors"/> (null entries: nothing to quantize, no run).</summary>
    /// <param name="tensors">Per tensor: its name, its coarsest candidate and that candidate's local error (null: none).</param>
    /// <param name="run">Runs the model with the given tensors quantized at the given candidates and measures the output error.</param>
    /// <param name="maxRuns">Most runs; tensors are grouped beyond it.</param>
    /// <param name="progress">Called with (runs done, runs).</param>
    public static Sensitivity?[] Measure(IReadOnlyList<(string Name, FormatCandidate Candidate, double Local)?> tensors,
        Func<IReadOnlyDictionary<string, FormatCandidate>, OutputError> run, int maxRuns, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRuns, 1);
        var measured = Enumerable.Range(0, tensors.Count).Where(i => tensors[i] != null).ToList();
        var result = new Sensitivity?[tensors.Count];
        int groups = Math.Min(maxRuns, measured.Count);
        for (int g = 0; g < groups; g++)
        {
            // Contiguous groups of nearly equal size.
            var members = measured.Skip((int)((long)g * measured.Count / groups)).Take((int)((long)(g + 1) * measured.Count / groups - (long)g * measured.Count / groups)).ToList();
            var choices = members.ToDictionary(i => tensors[i]!.Value.Name, i => tensors[i]!.Value.Candidate, StringComparer.Ordinal);
            var error = run(choices);
            double local = members.Sum(i => tensors[i]!.Value.Local);
            double nsr = local > 0 ? error.Nsr / local : 0;
            double? kl = error.MeanKl is double k ? (local > 0 ? k / local : 0) : null;
            foreach (int i in members) result[i] = new Sensitivity(nsr, kl, error, tensors[i]!.Value.Candidate.Name, g);
            progress?.Invoke(g + 1, groups);
        }
        return result;
    }
}
