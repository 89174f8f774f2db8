using Mx.Calibration.Evaluation;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>
/// Measures, for every weight and candidate, the weight's own SQNR and the model's output error when only that weight
/// is fake-quantized (all other weights float32), over every calibration sample.
/// </summary>
public static class SensitivityAnalyzer
{
    /// <summary>Measures <paramref name="weights"/> (name, op, layout, elements before splitting) against <paramref name="candidates"/>.</summary>
    /// <param name="swap">The model with the weights as inputs.</param>
    /// <param name="weights">The weights to measure.</param>
    /// <param name="candidates">The candidate formats.</param>
    /// <param name="progress">Called with (weight index, count, name) before each weight.</param>
    public static IReadOnlyList<WeightSensitivity> Measure(WeightSwapModel swap, IReadOnlyList<(string Name, string Op, WeightLayout Layout, long OriginalElements)> weights,
        IReadOnlyList<FormatCandidate> candidates, Action<int, int, string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(swap);
        var result = new List<WeightSensitivity>();
        for (int w = 0; w < weights.Count; w++)
        {
            var (name, op, layout, elements) = weights[w];
            progress?.Invoke(w, weights.Count, name);
            float[] original = swap.Original(name);
            long rows = original.LongLength / layout.K;
            var measures = new List<CandidateMeasure>();
            foreach (var c in candidates)
            {
                long bits = c.StoredBits(rows, layout.K);
                if (c.Settings is null)
                {
                    measures.Add(new CandidateMeasure(c, bits, double.PositiveInfinity, OutputError.Zero));
                    continue;
                }
                float[] q = FakeQuant.Apply(original, layout, c.Settings);
                double sqnr = MxErrorMetrics.Compute(original, q).SqnrDb;
                var err = swap.Evaluate(new Dictionary<string, float[]> { [name] = q });
                measures.Add(new CandidateMeasure(c, bits, sqnr, err));
            }
            result.Add(new WeightSensitivity(name, op, layout, elements, measures));
        }
        return result;
    }
}
