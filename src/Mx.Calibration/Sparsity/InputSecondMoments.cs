using Mx.Calibration.Capture;
using Mx.Calibration.Data;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Sparsity;

/// <summary>
/// Per weight, the second moment of its input along K, E[x_k²] (the diagonal of H = XᵀX over the rows it
/// represents), from one capture pass: what weighs block pruning (<see cref="QuantizationPlan.WithInputSecondMoments"/>),
/// so a tile whose inputs are large is kept before one whose inputs are small.
/// </summary>
public static class InputSecondMoments
{
    /// <summary>Measures the MatMul/Gemm weights of <paramref name="model"/> on <paramref name="samples"/>; weights whose input cannot be captured are left out.</summary>
    public static Dictionary<string, double[]> Measure(OnnxModel model, CalibrationSamples samples, CaptureOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        var (found, _) = WeightFinder.Find(model);
        var names = found.Where(c => c.Problem == null && c.Uses.All(u => u.Op is "MatMul" or "Gemm")).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var uses = WeightInputs.Of(found, names);
        var inputs = uses.Values.SelectMany(u => u).Where(u => u.Input != null).Select(u => u.Input!).DistinctBy(i => i.Key).ToList();
        var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
        if (inputs.Count == 0) return result;
        using var capture = CapturePass.Run(model, samples.Samples, inputs, [], options ?? new CaptureOptions(), new StatisticsOptions());
        foreach (var (name, list) in uses)
        {
            double[]? sum = null;
            foreach (var u in list.Where(u => u.Input != null))
            {
                var stats = capture.Inputs[u.Input!.Key];
                double[] h = stats.Hessian();
                int k = u.Input.K;
                sum ??= new double[k];
                if (sum.Length != k) { sum = null; break; }   // uses of different K: no single weighting
                double rows = Math.Max(1, stats.RowsRepresented);
                for (int i = 0; i < k; i++) sum[i] += h[(long)i * k + i] / rows;
            }
            if (sum != null) result[name] = sum;
        }
        return result;
    }
}
