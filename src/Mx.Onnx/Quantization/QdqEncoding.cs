using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Re-expresses a packed MX tensor as the operands of a blocked ONNX <c>DequantizeLinear</c>: low-precision data in
/// the layout's own shape (not transposed, no padding) and one scale per block. The element codes are reused bit for
/// bit; only the fixed element scaling of MXINT8 (2⁻⁶) and MXINT4 (2⁻²) is folded into the power-of-two scale.
/// </summary>
internal static class QdqEncoding
{
    /// <summary>The ONNX data type of the DequantizeLinear data for a format, or null when ONNX cannot express it.</summary>
    public static TensorElementType? DataType(MxFormat f) => f.Name switch
    {
        "mxfp8_e4m3" => TensorElementType.Float8E4M3FN,
        "mxfp8_e5m2" => TensorElementType.Float8E5M2,
        "mxint8" => TensorElementType.Int8,
        "mxint4" => TensorElementType.Int4,
        "mxfp4_e2m1" => TensorElementType.Float4E2M1,
        _ => null,
    };

    /// <summary>Whether the scales are FLOAT8E8M0 (MXFP4, needs opset 24) rather than float32.</summary>
    public static bool UsesE8M0Scales(MxFormat f) => f.Name == "mxfp4_e2m1";

    /// <summary>The default-domain opset DequantizeLinear needs for <paramref name="f"/>.</summary>
    public static int RequiredOpset(MxFormat f) => UsesE8M0Scales(f) ? 24 : 21;

    /// <summary>The data bytes (raw ONNX form, 4-bit types two per byte, low nibble first) and the scale bytes.</summary>
    public static (byte[] Data, byte[] Scales) Encode(MxPackedTensor packed)
    {
        var layout = packed.Layout;
        var format = layout.Format;
        int bits = format.ElementBits;
        long count = layout.ElementCount;
        var data = new byte[bits == 4 ? (count + 1) / 2 : count];
        var elements = packed.Elements.Span;
        for (long r = 0; r < layout.Rows; r++)
        {
            var row = elements.Slice((int)(r * layout.RowBytes), layout.RowBytes);
            long start = MxQuantizer.LogicalIndex(layout, r, 0);
            for (int k = 0; k < layout.K; k++)
            {
                long at = start + k * layout.Inner;
                if (bits == 8)
                {
                    data[at] = row[k];
                }
                else
                {
                    int code = (row[k >> 1] >> ((k & 1) * 4)) & 0xF;
                    data[at >> 1] |= (byte)(code << (int)((at & 1) * 4));
                }
            }
        }
        // Scale tensor: the layout's shape with the block axis cut to blocks; element (.., b, ..) is row r's block b.
        int nb = layout.BlocksPerRow;
        var scaleLayoutShape = layout.Shape.ToArray();
        scaleLayoutShape[layout.Axis] = nb;
        var scaleBytes = packed.Scales.Span;
        bool e8m0 = UsesE8M0Scales(format);
        int shift = format.Kind == MxElementKind.Int ? format.MantissaBits : 0;
        var scales = new byte[layout.Rows * nb * (e8m0 ? 1 : 4)];
        for (long r = 0; r < layout.Rows; r++)
        {
            long outer = r / layout.Inner, inner = r % layout.Inner;
            for (int b = 0; b < nb; b++)
            {
                long at = (outer * nb + b) * layout.Inner + inner;
                byte s = scaleBytes[(int)(r * nb + b)];
                if (e8m0) scales[at] = s;
                else BitConverter.TryWriteBytes(scales.AsSpan((int)(at * 4), 4), ScaleValue(s, shift));
            }
        }
        return (data, scales);
    }

    /// <summary>The shape of the scale tensor: the layout's shape with the block axis replaced by the block count.</summary>
    public static long[] ScaleShape(MxPackedLayout layout)
    {
        var shape = layout.Shape.Select(d => (long)d).ToArray();
        shape[layout.Axis] = layout.BlocksPerRow;
        return shape;
    }

    // 2^(s − 127 − shift) in float32: exact (a subnormal below 2^−126); 0xFF is the E8M0 NaN.
    private static float ScaleValue(byte s, int shift) => s == 0xFF ? float.NaN : (float)Math.ScaleB(1.0, s - 127 - shift);
}
