namespace Mx.Runtime.Formats;

/// <summary>The result of quantizing one tensor: storage cost, error against the original, and the dequantized values.</summary>
/// <param name="Options">What was asked.</param>
/// <param name="Packed">The packed tensor.</param>
/// <param name="Error">Error over every logical element (padding excluded).</param>
/// <param name="Dequantized">The dequantized float32 tensor, row-major, the input's shape.</param>
public sealed record MxTensorReport(MxQuantizeOptions Options, MxPackedTensor Packed, MxErrorStats Error, float[] Dequantized)
{
    /// <summary>Stored bits per logical element: element codes, scales and micro-exponents (padding storage included).</summary>
    public double BitsPerElement => Packed.Layout.BitsPerElement;

    /// <summary>Mean squared error.</summary>
    public double Mse => Error.Mse;

    /// <summary>SQNR in dB (see <see cref="MxErrorStats.SqnrDb"/>).</summary>
    public double SqnrDb => Error.SqnrDb;

    /// <summary>Largest absolute error.</summary>
    public double MaxAbsError => Error.MaxAbsError;

    /// <summary>Per-block error statistics, [row · blocksPerRow + block].</summary>
    public MxErrorStats[] PerBlock(ReadOnlySpan<float> original) => MxErrorMetrics.PerBlock(original, Dequantized, Packed.Layout);

    /// <summary>
    /// Quantizes <paramref name="data"/> (row-major, shape <paramref name="shape"/>) with <paramref name="options"/>,
    /// dequantizes it and measures the error. The entry point of <c>mx tensor</c>.
    /// </summary>
    public static MxTensorReport Create(ReadOnlySpan<float> data, IReadOnlyList<int> shape, MxQuantizeOptions options)
    {
        var packed = MxQuantizer.Quantize(data, shape, options);
        float[] dq = MxQuantizer.Dequantize(packed, options.Path);
        return new MxTensorReport(options, packed, MxErrorMetrics.Compute(data, dq), dq);
    }
}
