using Mx.Runtime.Cpu;
using System.Runtime.Intrinsics;

namespace Mx.Calibration.Linear;

/// <summary>
/// The layer-output error of a weight change Δ = W − Q: Σ over input rows x of ‖x·Δ‖², computed either from the Gram
/// matrix H = Σ xᵀx as tr(Δᵀ H Δ) (cost N·K²) or directly from rows (cost rows·K·N). Δ is given output-major: row n
/// holds the K reduction values of output n (<see cref="OutputMajor"/> converts a weight layout). Outputs are
/// independent, so the work is spread over cores; per-output sums are added in output order (deterministic).
/// </summary>
public static class LayerError
{
    /// <summary>
    /// Converts a 2-D weight of shape [<paramref name="rows"/>, <paramref name="columns"/>] whose reduction axis is
    /// <paramref name="axis"/> (0: [K, N]; 1: [N, K]) to output-major float64: result[n·K + k].
    /// </summary>
    public static double[] OutputMajor(ReadOnlySpan<float> values, int rows, int columns, int axis)
    {
        if ((long)rows * columns != values.Length) throw new ArgumentException($"{values.Length} values for a [{rows}, {columns}] weight");
        if (axis is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(axis), axis, "the reduction axis of a 2-D weight is 0 or 1");
        var result = new double[values.Length];
        if (axis == 1)
        {
            for (int i = 0; i < values.Length; i++) result[i] = values[i];
            return result;
        }
        // [K, N] → [N, K].
        for (int k = 0; k < rows; k++)
            for (int n = 0; n < columns; n++)
                result[(long)n * rows + k] = values[k * columns + n];
        return result;
    }

    /// <summary>tr(Δᵀ H Δ) = Σ_n δ_nᵀ H δ_n for output-major <paramref name="delta"/> (N rows of K) and full symmetric <paramref name="h"/> (K × K).</summary>
    public static double FromGram(double[] h, int k, double[] delta)
    {
        if ((long)k * k != h.Length) throw new ArgumentException($"H has {h.Length} values, not {k}²");
        if (delta.Length % k != 0) throw new ArgumentException($"Δ has {delta.Length} values, not a multiple of K = {k}");
        int n = delta.Length / k;
        var perOutput = new double[n];
        ForEach(n, (long)k * k, o =>
        {
            var d = delta.AsSpan(o * k, k);
            double e = 0;
            for (int i = 0; i < k; i++)
            {
                if (d[i] == 0) continue;
                e += d[i] * Dot(h.AsSpan(i * k, k), d);
            }
            perOutput[o] = e;
        });
        return Sum(perOutput);
    }

    /// <summary>Σ_r Σ_n (x_r · δ_n)² for <paramref name="rows"/> (row-major, K values each) and output-major <paramref name="delta"/>.</summary>
    public static double FromRows(ReadOnlySpan<float> rows, int k, double[] delta)
    {
        if (rows.Length % k != 0) throw new ArgumentException($"{rows.Length} row values, not a multiple of K = {k}");
        if (delta.Length % k != 0) throw new ArgumentException($"Δ has {delta.Length} values, not a multiple of K = {k}");
        int r = rows.Length / k, n = delta.Length / k;
        var x = new double[rows.Length];
        for (int i = 0; i < rows.Length; i++) x[i] = rows[i];
        var perOutput = new double[n];
        ForEach(n, (long)r * k, o =>
        {
            var d = delta.AsSpan(o * k, k);
            double e = 0;
            for (int i = 0; i < r; i++)
            {
                double y = Dot(x.AsSpan(i * k, k), d);
                e += y * y;
            }
            perOutput[o] = e;
        });
        return Sum(perOutput);
    }

    /// <summary>Σ_n ‖δ_n‖² weighted per output: the error when every input row is one-hot (an embedding lookup), each output row weighing <paramref name="weights"/>[n].</summary>
    public static double Weighted(ReadOnlySpan<float> delta, int k, ReadOnlySpan<double> weights)
    {
        if (delta.Length != (long)weights.Length * k) throw new ArgumentException($"Δ has {delta.Length} values for {weights.Length} rows of {k}");
        double e = 0;
        for (int o = 0; o < weights.Length; o++)
            if (weights[o] != 0) e += weights[o] * SumOfSquares(delta.Slice(o * k, k));
        return e;
    }

    /// <summary>Σ x² in float64.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += (double)v * v;
        return s;
    }

    /// <summary>Dot product of two float64 spans of equal length (Vector256 where available).</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        int n = a.Length, i = 0;
        double s = 0;
        if (CpuFeatures.Has(IsaFeatures.Avx2) && n >= 8)
        {
            Vector256<double> acc0 = default, acc1 = default;
            for (; i + 8 <= n; i += 8)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(a.Slice(i, 4)), Vector256.Create(b.Slice(i, 4)), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(a.Slice(i + 4, 4)), Vector256.Create(b.Slice(i + 4, 4)), acc1);
            }
            s = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    // Runs body(o) for every output, in parallel when the total work is worth it.
    private static void ForEach(int outputs, long workPerOutput, Action<int> body)
    {
        if (outputs * workPerOutput < 1 << 20 || Environment.ProcessorCount == 1)
            for (int o = 0; o < outputs; o++) body(o);
        else
            Parallel.For(0, outputs, body);
    }

    private static double Sum(double[] values)
    {
        double s = 0;
        foreach (double v in values) s += v;
        return s;
    }
}
