namespace Mx.Runtime.Formats;

/// <summary>
/// Element-level conversion with the ONNX <c>Cast</c> operator's rules (no block scale): float → FLOAT8E4M3FN,
/// FLOAT8E5M2 or FLOAT4E2M1 code, rounding to nearest even. Used for interoperability with plain ONNX float8/float4
/// tensors; block quantization uses <see cref="MxElementEncoding"/>.
/// </summary>
public static class MxElementCast
{
    /// <summary>
    /// Casts <paramref name="value"/> to the element type of <paramref name="format"/> (mxfp8_e4m3, mxfp8_e5m2 or
    /// mxfp4_e2m1; also accepted: mxfp6_*, which behave like FP4).
    /// Finite values round to nearest even on the unbounded grid; a result above the largest normal gives ±max when
    /// <paramref name="saturate"/>, otherwise E4M3: ±NaN (S.1111.111), E5M2: ±Inf (S.11111.00).
    /// ±Inf: ±max when saturating, otherwise E4M3 ±NaN, E5M2 ±Inf. NaN: keeps its sign; E4M3 S.1111.111, E5M2 S.11111.10
    /// (the quiet NaN of ml_dtypes, as the ONNX test data). FP4/FP6 have no Inf or NaN and always saturate; NaN gives code 0b1000.. (as the ONNX test data).
    /// </summary>
    public static int FromFloat(MxFormat format, float value, bool saturate = true)
    {
        if (format.Kind != MxElementKind.Float)
            throw new ArgumentException($"{format.Name} has no element-level cast (floats only)", nameof(format));
        ref readonly var g = ref MxElementGrid.For(format);
        uint bits = BitConverter.SingleToUInt32Bits(value);
        bool neg = (bits >> 31) != 0;
        uint abs = bits & 0x7FFFFFFF;
        int signBit = 1 << (g.Bits - 1);
        bool fp8 = format.ElementHasNaN;
        if (abs > 0x7F800000)
            return !fp8 ? signBit : (neg ? signBit : 0) | (format == MxFormats.Mxfp8E4M3 ? 0x7F : 0x7E);
        int mag;
        if (abs == 0x7F800000) mag = int.MaxValue;
        else mag = MxElementEncoding.UnboundedMagnitude(abs, 0, g.M, g.Emin, MxRounding.NearestEven);
        if (mag > g.MaxMagnitude)
        {
            if (saturate || !fp8) mag = g.MaxMagnitude;
            else mag = format == MxFormats.Mxfp8E4M3 ? signBit - 1 : (1 << (g.Bits - 1)) - (1 << g.M); // NaN or Inf
        }
        return (neg ? signBit : 0) | mag;
    }
}
