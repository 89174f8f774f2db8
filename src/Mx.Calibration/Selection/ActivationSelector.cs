using Mx.Calibration.Evaluation;
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

/// <summary>
/// Chooses an activation format per site under an activation bits budget, with the weights fixed at their chosen
/// formats: each site's candidates are measured alone (only that activation quantized, weights float32), then
/// <see cref="FormatSelector"/> runs with a verification that quantizes the chosen weights and activations together.
/// Bits of an activation: stored bits per element in the format (block padding and scales included; float32 is 32),
/// averaged over the activations' elements per sample.
/// </summary>
public static class ActivationSelector
{
    /// <summary>The measures, the uniform baselines and the selection.</summary>
    public static (IReadOnlyList<WeightSensitivity> Measured, IReadOnlyList<UniformBaseline> Uniform, Selection Selection) Select(
        WeightSwapModel swap, ActivationGates gates, IReadOnlyList<ActivationInput> inputs, IReadOnlyList<FormatCandidate> candidates, Budget budget,
        IReadOnlyDictionary<string, float[]> weights, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(swap);
        ArgumentNullException.ThrowIfNull(gates);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(weights);
        var none = new Dictionary<string, float[]>();
        var measured = new List<WeightSensitivity>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var a = inputs[i];
            log?.Invoke($"[act {i + 1}/{inputs.Count}] {a.Site.Activation} ({a.Site.Op} '{a.Site.NodeName}')");
            long rows = a.RowsPerSample;
            float[] reservoir = a.Statistics.Reservoir.ToMatrix();
            var layout = new WeightLayout([a.Statistics.Reservoir.Rows.Count, a.Statistics.K], 1);
            var measures = new List<CandidateMeasure>();
            foreach (var c in candidates)
            {
                long bits = c.StoredBits(rows, a.Channels);
                if (c.Settings is null)
                {
                    measures.Add(new CandidateMeasure(c, bits, double.PositiveInfinity, OutputError.Zero));
                    continue;
                }
                // The activation's own SQNR, estimated on the reservoir rows; the output error is measured on the model.
                double sqnr = reservoir.Length == 0 ? double.NaN : MxErrorMetrics.Compute(reservoir, FakeQuant.Apply(reservoir, layout, c.Settings)).SqnrDb;
                var err = swap.Evaluate(none, gates.Inputs(new Dictionary<string, FormatCandidate> { [a.Site.Weight] = c }));
                measures.Add(new CandidateMeasure(c, bits, sqnr, err));
            }
            measured.Add(new WeightSensitivity(a.Site.Weight, a.Site.Op, new WeightLayout([(int)Math.Max(1, rows), a.Statistics.K], 1), rows * a.Statistics.K, measures));
        }
        OutputError Verify(IReadOnlyDictionary<string, FormatCandidate> choices) => swap.Evaluate(weights, gates.Inputs(choices));
        long elements = Math.Max(1, measured.Sum(m => m.OriginalElements));
        var uniform = candidates.Select(c => new UniformBaseline(c,
            measured.Sum(m => m.Measures.First(x => x.Candidate.Name == c.Name).Bits) / (double)elements,
            Verify(measured.ToDictionary(m => m.Name, _ => c, StringComparer.Ordinal)))).ToList();
        foreach (var u in uniform) log?.Invoke($"activations uniform {u.Candidate.Name}: {u.AverageBits:0.###} bits, objective {u.Measured.Objective:G4}");
        var selection = FormatSelector.Select(measured, budget, Verify, uniform);
        return (measured, uniform, selection);
    }
}
