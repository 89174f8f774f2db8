using Mx.Calibration.Capture;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Linear;
using Mx.Calibration.Ocs;
using Mx.Calibration.Statistics;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>One activation site to choose a format for.</summary>
/// <param name="Site">The site (found on the gated model).</param>
/// <param name="Statistics">Its activation statistics (original channels).</param>
/// <param name="Channels">Channels along the reduction axis as the op reads them (after any channel split).</param>
public sealed record ActivationInput(ActivationSite Site, TensorStatistics Statistics, int Channels)
{
    /// <summary>Rows (blocks' lines) per sample: the rows the statistics saw over the samples they saw, rounded up.</summary>
    public long RowsPerSample => Statistics.Tensors == 0 ? 0 : (Statistics.Rows + Statistics.Tensors - 1) / Statistics.Tensors;
}

/// <summary>An activation site's layer: its captured input rows and the weight (as the working model holds it) they multiply.</summary>
/// <param name="Rows">The layer input's statistics (reservoir rows in the weight's reduction space, original channels).</param>
/// <param name="Weight">The working model's weight values.</param>
/// <param name="Layout">Its layout.</param>
/// <param name="Split">The channel split of this weight, if any (rows are mapped to the split channels).</param>
public sealed record ActivationLayer(LayerInputStatistics Rows, float[] Weight, WeightLayout Layout, OcsDecision? Split);

/// <summary>
/// Chooses an activation format per site under an activation bits budget, with the weights at their chosen formats,
/// by the same method as the weights: each candidate's layer-local error ‖(X − Q(X))·W‖² on the layer's reservoir rows
/// (MX blocks along the reduction axis; for a Conv along the channels of each kernel offset), one sensitivity run per
/// site (only that activation quantized, at its coarsest candidate, weights float32), the exact knapsack on the
/// predicted errors and at most <see cref="BudgetSolver.MaxVerifications"/> verification runs with the chosen weights
/// and activations together. Bits of an activation: stored bits per element in the format (block padding and scales
/// included; float32 is 32), averaged over the activations' elements per sample.
/// </summary>
public static class ActivationSelector
{
    /// <summary>The per-site measures (for the recipe), the uniform baselines and the selection.</summary>
    public static (IReadOnlyDictionary<string, (LocalCandidate Candidate, Sensitivity? Sensitivity)[]> Measured, IReadOnlyList<UniformBaseline> Uniform, Selection Selection) Select(
        WeightSwapModel swap, ActivationGates gates, IReadOnlyList<ActivationInput> inputs, IReadOnlyDictionary<string, ActivationLayer> layers,
        IReadOnlyList<FormatCandidate> candidates, Budget budget, IReadOnlyDictionary<string, float[]> weights, bool kl, int maxRuns, Action<string>? log = null,
        Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(swap);
        ArgumentNullException.ThrowIfNull(gates);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(layers);
        var locals = inputs.Select(a => candidates.Select(c => new LocalCandidate(c, c.StoredBits(a.RowsPerSample, a.Channels),
            c.Settings is null || !layers.TryGetValue(a.Site.Weight, out var layer) ? 0 : LocalOf(layer, c.Settings), double.NaN)).ToArray()).ToList();
        var none = new Dictionary<string, float[]>();
        var coarsest = locals.Select((l, i) => l.Where(c => c.Candidate.Settings != null).OrderBy(c => c.Bits).FirstOrDefault() is { } c
            ? ((string, FormatCandidate, double)?)(inputs[i].Site.Weight, c.Candidate, c.Local) : null).ToList();
        var sensitivity = SensitivityRuns.Measure(coarsest, choices => swap.Evaluate(none, gates.Inputs(choices)), maxRuns, progress);
        var groups = inputs.Select((a, i) => new PlanGroup(a.Site.Weight, a.RowsPerSample * a.Statistics.K, locals[i].Select(c => new PlanItem(c.Candidate, c.Bits,
            (sensitivity[i]?.Objective(kl) ?? 0) * c.Local, (sensitivity[i]?.Nsr ?? 0) * c.Local)).ToList())).ToList();
        var selection = BudgetSolver.Solve(groups, budget, choices => swap.Evaluate(weights, gates.Inputs(choices)), out var uniform);
        var measured = inputs.Select((a, i) => (a.Site.Weight, locals[i].Select(c => (c, sensitivity[i])).ToArray()))
            .ToDictionary(x => x.Weight, x => x.Item2, StringComparer.Ordinal);
        return (measured, uniform, selection);
    }

    /// <summary>Σ ‖(X − Q(X))·W‖² over the layer's reservoir rows scaled to the calibration rows (times the op's output scale).</summary>
    public static double LocalOf(ActivationLayer layer, TensorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(settings);
        var stats = layer.Rows;
        var reservoir = stats.Reservoir;
        if (reservoir is null || reservoir.Rows.Count == 0) return 0;
        var input = stats.Input;
        int r = reservoir.Rows.Count, width = input.Width;
        float[] x = reservoir.ToMatrix();
        int k = input.K;
        if (layer.Split is { } split)
        {
            // The op reads the split activation: column j is original column Sources[j] (times the factor on the activation side).
            var map = split.Map;
            k = map.Count;
            var mapped = new float[(long)r * k];
            for (int i = 0; i < r; i++)
                for (int j = 0; j < k; j++)
                    mapped[(long)i * k + j] = x[(long)i * width + map.Sources[j]] * (split.Side == OcsSide.Activation ? map.Factors[j] : 1f);
            x = mapped;
            width = k;
        }
        float[] q = QuantizeRows(x, r, width, input, settings);
        for (int i = 0; i < x.Length; i++) q[i] = x[i] - q[i];
        double[] w = LayerError.OutputMajor(layer.Weight, layer.Layout.BlockShape[0], layer.Layout.BlockShape[1], layer.Layout.Axis);
        int groups = input.Groups, perGroup = w.Length / k / groups;
        double total = 0;
        for (int g = 0; g < groups; g++)
        {
            var rows = new float[(long)r * k];
            for (int i = 0; i < r; i++) q.AsSpan(i * width + g * k, k).CopyTo(rows.AsSpan(i * k));
            total += LayerError.FromRows(rows, k, groups == 1 ? w : w.AsSpan(g * perGroup * k, perGroup * k).ToArray());
        }
        return total * stats.RowsRepresented / r * input.Scale;
    }

    // The activation's MX blocks: along the reduction axis for MatMul/Gemm rows; for im2col rows, along the channels
    // of each kernel offset within a group (the rows are reordered [group][offset][channel], quantized, and put back).
    private static float[] QuantizeRows(float[] x, int r, int width, LayerInput input, TensorSettings settings)
    {
        if (input.Kind != LayerInputKind.Im2Col) return FakeQuant.Apply(x, new WeightLayout([r, width], 1), settings);
        int kernel = input.Conv!.KernelSize, cg = input.K / kernel, groups = input.Groups;
        var reordered = new float[x.Length];
        for (int i = 0; i < r; i++)
            for (int g = 0; g < groups; g++)
                for (int c = 0; c < cg; c++)
                    for (int o = 0; o < kernel; o++)
                        reordered[((long)(i * groups + g) * kernel + o) * cg + c] = x[(long)i * width + g * input.K + c * kernel + o];
        float[] q = FakeQuant.Apply(reordered, new WeightLayout([r * groups * kernel, cg], 1), settings);
        var back = new float[x.Length];
        for (int i = 0; i < r; i++)
            for (int g = 0; g < groups; g++)
                for (int c = 0; c < cg; c++)
                    for (int o = 0; o < kernel; o++)
                        back[(long)i * width + g * input.K + c * kernel + o] = q[((long)(i * groups + g) * kernel + o) * cg + c];
        return back;
    }
}
