using Mx.Calibration.Evaluation;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>
/// Measures, for every weight and candidate, the weight's own SQNR and the model's output error when only that weight
/// is fake-quantized (all other weights float32), over every calibration sample. A weight that stands for several
/// graph inputs (several layouts, several constants of one name) is quantized in all of them at once: the quantizer's
/// per-tensor settings give one format to the weight as a whole.
/// </summary>
public static class SensitivityAnalyzer
{
    /// <summary>Measures <paramref name="weights"/> (name, op, elements before splitting) against <paramref name="candidates"/>.</summary>
    /// <param name="swap">The model with the weights as inputs.</param>
    /// <param name="weights">The weights to measure.</param>
    /// <param name="candidates">The candidate formats.</param>
    /// <param name="progress">Called with (weight index, count, name) before each weight.</param>
    public static IReadOnlyList<WeightSensitivity> Measure(WeightSwapModel swap, IReadOnlyList<(string Name, string Op, long OriginalElements)> weights,
        IReadOnlyList<FormatCandidate> candidates, Action<int, int, string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(swap);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(candidates);
        var result = new List<WeightSensitivity>();
        for (int w = 0; w < weights.Count; w++)
        {
            var (name, op, elements) = weights[w];
            progress?.Invoke(w, weights.Count, name);
            var inputs = swap.Inputs(name);
            var originals = inputs.Select(i => i.Original.ToFloatArray()).ToArray();
            float[] original = originals.SelectMany(x => x).ToArray();
            var measures = new List<CandidateMeasure>();
            foreach (var c in candidates)
            {
                if (c.Settings is null)
                {
                    // Float32 is stored once per constant, whatever the number of layouts.
                    long fp32 = inputs.Where(i => i.FirstOfConstant).Sum(i => c.StoredBits(i.Original.ElementCount / i.Layout.K, i.Layout.K));
                    measures.Add(new CandidateMeasure(c, fp32, double.PositiveInfinity, OutputError.Zero));
                    continue;
                }
                // One packing per layout (as the quantizer stores a weight whose uses need several).
                long bits = inputs.Sum(i => c.StoredBits(i.Original.ElementCount / i.Layout.K, i.Layout.K));
                var q = inputs.Select((i, k) => FakeQuant.Apply(originals[k], i.Layout, c.Settings)).ToArray();
                double sqnr = MxErrorMetrics.Compute(original, q.SelectMany(x => x).ToArray()).SqnrDb;
                var err = swap.Evaluate(inputs.Select((i, k) => (i.InputName, q[k])).ToDictionary(x => x.InputName, x => x.Item2, StringComparer.Ordinal));
                measures.Add(new CandidateMeasure(c, bits, sqnr, err));
            }
            result.Add(new WeightSensitivity(name, op, inputs[0].Layout, elements, measures));
        }
        return result;
    }
}
