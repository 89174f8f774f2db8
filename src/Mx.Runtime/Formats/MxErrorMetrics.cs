namespace Mx.Runtime.Formats;

/// <summary>
/// Quantization error of a set of values: sums kept in double so per-block statistics add up to per-tensor ones.
/// Only logical elements are counted (never padding). Non-finite values propagate as IEEE arithmetic gives
/// (a NaN anywhere makes <see cref="Mse"/> NaN).
/// </summary>
/// <param name="Count">Number of values.</param>
/// <param name="SumSquaredError">Σ (q − x)².</param>
/// <param name="SumSquaredSignal">Σ x².</param>
/// <param name="MaxAbsError">max |q − x| (0 for no values; NaN when any difference is NaN).</param>
public readonly record struct MxErrorStats(long Count, double SumSquaredError, double SumSquaredSignal, double MaxAbsError)
{
    /// <summary>Mean squared error; 0 for no values.</summary>
    public double Mse => Count == 0 ? 0 : SumSquaredError / Count;

    /// <summary>
    /// Signal-to-quantization-noise ratio in dB: 10·log10(Σx² / Σ(q−x)²). +∞ when the error is 0 (an all-zero signal
    /// included); −∞ when the signal is 0 but the error is not.
    /// </summary>
    public double SqnrDb => SumSquaredError == 0 ? double.PositiveInfinity : 10 * Math.Log10(SumSquaredSignal / SumSquaredError);

    /// <summary>The statistics of the union of two disjoint sets.</summary>
    public MxErrorStats Add(MxErrorStats o) =>
        new(Count + o.Count, SumSquaredError + o.SumSquaredError, SumSquaredSignal + o.SumSquaredSignal,
            double.IsNaN(MaxAbsError) || double.IsNaN(o.MaxAbsError) ? double.NaN : Math.Max(MaxAbsError, o.MaxAbsError));
}

/// <summary>Error metrics of a quantized tensor against its original: per tensor and per block.</summary>
public static class MxErrorMetrics
{
    /// <summary>Statistics of <paramref name="approx"/> against <paramref name="reference"/> (same length).</summary>
    public static MxErrorStats Compute(ReadOnlySpan<float> reference, ReadOnlySpan<float> approx)
    {
        if (reference.Length != approx.Length) throw new ArgumentException($"lengths differ: {reference.Length} vs {approx.Length}");
        double se = 0, ss = 0, max = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double x = reference[i], d = approx[i] - x;
            se += d * d;
            ss += x * x;
            double ad = Math.Abs(d);
            max = double.IsNaN(ad) || double.IsNaN(max) ? double.NaN : Math.Max(max, ad);
        }
        return new MxErrorStats(reference.Length, se, ss, max);
    }

    /// <summary>
    /// Statistics per block of <paramref name="layout"/>, indexed [row · blocksPerRow + block]; both tensors are
    /// row-major in the layout's logical shape. The last block of a row counts only its K mod blockSize logical values.
    /// </summary>
    public static MxErrorStats[] PerBlock(ReadOnlySpan<float> reference, ReadOnlySpan<float> approx, MxPackedLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (reference.Length != layout.ElementCount || approx.Length != layout.ElementCount)
            throw new ArgumentException($"both tensors must hold {layout.ElementCount} values (got {reference.Length} and {approx.Length})");
        var result = new MxErrorStats[layout.Rows * layout.BlocksPerRow];
        Span<float> x = stackalloc float[layout.BlockSize], q = stackalloc float[layout.BlockSize];
        for (long r = 0; r < layout.Rows; r++)
            for (int b = 0; b < layout.BlocksPerRow; b++)
            {
                int start = b * layout.BlockSize, len = Math.Min(layout.BlockSize, layout.K - start);
                for (int i = 0; i < len; i++)
                {
                    long at = MxQuantizer.LogicalIndex(layout, r, start + i);
                    x[i] = reference[(int)at];
                    q[i] = approx[(int)at];
                }
                result[r * layout.BlocksPerRow + b] = Compute(x[..len], q[..len]);
            }
        return result;
    }
}
