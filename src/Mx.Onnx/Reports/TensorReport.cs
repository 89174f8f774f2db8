namespace Mx.Onnx.Reports;

/// <summary>One quantized weight in a <see cref="QuantizationReport"/>.</summary>
/// <param name="Name">The original initializer or Constant name.</param>
/// <param name="Op">The consuming operator.</param>
/// <param name="Shape">The original shape.</param>
/// <param name="DType">The original element type (ONNX name, e.g. <c>float</c>).</param>
/// <param name="Format">The MX format.</param>
/// <param name="BlockSize">Elements per shared scale.</param>
/// <param name="Elements">Number of weights.</param>
/// <param name="BytesBefore">Data bytes of the original tensor in the original file.</param>
/// <param name="BytesAfter">Data bytes of the initializers holding it in the quantized file.</param>
/// <param name="FormatBytes">Bytes the MX format needs (codes, scales, micro-exponents); equals <paramref name="BytesAfter"/> for packed models.</param>
/// <param name="SqnrDb">Weight SQNR in dB of the decoded weights against the originals (+∞ when exact, NaN when decoding gives NaN).</param>
/// <param name="Mse">Mean squared error of the decoded weights.</param>
/// <param name="MaxAbsError">Largest absolute error of the decoded weights.</param>
public sealed record TensorReport(
    string Name, string Op, long[] Shape, string DType, string Format, int BlockSize, long Elements,
    long BytesBefore, long BytesAfter, long FormatBytes, double SqnrDb, double Mse, double MaxAbsError)
{
    /// <summary>BytesBefore / BytesAfter (how many times smaller); 0 when nothing is stored.</summary>
    public double Ratio => BytesAfter == 0 ? 0 : (double)BytesBefore / BytesAfter;

    /// <summary>Stored bits per weight, scales included.</summary>
    public double BitsPerWeight => Elements == 0 ? 0 : 8.0 * BytesAfter / Elements;
}

/// <summary>Bytes per MX format over the quantized weights.</summary>
/// <param name="Format">The format name.</param>
/// <param name="Tensors">How many weights use it.</param>
/// <param name="Elements">Weights in those tensors.</param>
/// <param name="BytesBefore">Their original bytes.</param>
/// <param name="BytesAfter">Their stored bytes in the quantized file.</param>
public sealed record FormatTotals(string Format, int Tensors, long Elements, long BytesBefore, long BytesAfter)
{
    /// <summary>BytesBefore / BytesAfter; 0 when nothing is stored.</summary>
    public double Ratio => BytesAfter == 0 ? 0 : (double)BytesBefore / BytesAfter;
}
