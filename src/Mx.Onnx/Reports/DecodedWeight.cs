namespace Mx.Onnx.Reports;

/// <summary>A quantized weight as the quantized file holds it.</summary>
/// <param name="Values">The dequantized values, row-major in the original tensor's shape.</param>
/// <param name="StoredBytes">Bytes of the initializers that hold it in the quantized file (elements, scales, micro).</param>
/// <param name="FormatBytes">Bytes the MX format needs for it in the packed layout (codes, scales and micro-exponents).</param>
public sealed record DecodedWeight(float[] Values, long StoredBytes, long FormatBytes);
