using Mx.Onnx.Quantization;
using Mx.Onnx.Graph;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Reports;

/// <summary>
/// Decodes a quantized weight from the quantized model file, following the <c>mx.quantization</c> contract for each
/// emit mode: <c>packed</c> (uint8 elements/scales/micro in the packed layout), <c>qdq</c> (DequantizeLinear data and
/// block scales), <c>fake</c> (float32 dequantized values) and <c>matmulnbits</c> (see <see cref="MatMulNBitsDecoder"/>).
/// </summary>
public static class QuantizedWeightDecoder
{
    /// <summary>Decodes <paramref name="entry"/> from <paramref name="model"/> as written with emit mode <paramref name="emit"/>.</summary>
    /// <exception cref="InvalidDataException">A named initializer is missing or has the wrong type or size; the message names the file and tensor.</exception>
    public static DecodedWeight Decode(OnnxModel model, QuantizedTensorEntry entry, string emit)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(entry);
        string where = $"{model.Source}: tensor '{entry.Name}'";
        if (emit == "matmulnbits") return MatMulNBitsDecoder.Decode(model, entry, where);
        if (!MxFormats.TryParse(entry.Format, out var format))
            throw new InvalidDataException($"{where}: unknown MX format '{entry.Format}'");
        MxPackedLayout layout;
        try
        {
            layout = new MxPackedLayout(format, entry.BlockShape, entry.Axis, entry.BlockSize);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{where}: block_shape [{string.Join(", ", entry.BlockShape)}] axis {entry.Axis} block {entry.BlockSize}: {ex.Message}", ex);
        }
        long formatBytes = layout.ElementBytes + layout.ScaleBytes + layout.MicroBytes;
        var (values, stored) = emit switch
        {
            "packed" => Packed(model, entry, layout, where),
            "qdq" => Qdq(model, entry, layout, where),
            "fake" => Fake(model, entry, layout, where),
            _ => throw new InvalidDataException($"{model.Source}: unknown emit mode '{emit}'"),
        };
        return new DecodedWeight(values, stored, formatBytes);
    }

    private static (float[], long) Packed(OnnxModel model, QuantizedTensorEntry entry, MxPackedLayout layout, string where)
    {
        var elements = Bytes(model, entry.Elements, "elements", where);
        var scales = Bytes(model, entry.Scales ?? throw new InvalidDataException($"{where}: packed weight without a scales initializer"), "scales", where);
        long stored = elements.Length + scales.Length;
        if (entry.Layout == "kmajor")
        {
            // K-major storage (optionally with a tile mask): back to the row-major buffers the layout describes.
            var mask = entry.Mask is { } m ? Bytes(model, m, "tile mask", where) : default;
            try
            {
                var k = new MxKMajorLayout(layout.Format, checked((int)layout.Rows), layout.K, layout.BlockSize);
                using var w = new Mx.Runtime.Kernels.Sparse.MxKMajorWeight(k, elements, scales, mask);
                var (e, s) = w.ToRowMajorBuffers();
                elements = e;
                scales = s;
                stored += mask.Length;
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"{where}: K-major initializers do not fit: {ex.Message}", ex);
            }
        }
        else if (entry.Layout != "rowmajor")
            throw new InvalidDataException($"{where}: unknown packed layout '{entry.Layout}' (rowmajor or kmajor)");
        ReadOnlyMemory<byte> micro = default;
        if (layout.MicroBytes > 0)
            micro = Bytes(model, entry.Micro ?? throw new InvalidDataException($"{where}: {layout.Format.Name} needs a micro initializer"), "micro", where);
        else if (entry.Micro is not null)
            throw new InvalidDataException($"{where}: {layout.Format.Name} has no micro-exponents but micro '{entry.Micro}' is named");
        MxPackedTensor packed;
        try
        {
            packed = MxPackedTensor.View(layout, elements, scales, micro);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{where}: packed initializers do not fit the layout: {ex.Message}", ex);
        }
        return (MxQuantizer.Dequantize(packed), stored + micro.Length);
    }

    internal static ReadOnlyMemory<byte> Bytes(OnnxModel model, string name, string role, string where)
    {
        var c = ModelTensors.Find(model, name) ?? throw new InvalidDataException($"{where}: {role} initializer '{name}' is not in the model");
        if (c.ElementType != TensorElementType.UInt8)
            throw new InvalidDataException($"{where}: {role} initializer '{name}' is {c.ElementType.OnnxName()}, expected uint8");
        return c.Graph.Model.GetTensorBytes(c.Tensor);
    }

    private static (float[], long) Fake(OnnxModel model, QuantizedTensorEntry entry, MxPackedLayout layout, string where)
    {
        var c = ModelTensors.Find(model, entry.Elements) ?? throw new InvalidDataException($"{where}: elements initializer '{entry.Elements}' is not in the model");
        if (!TensorReader.IsConvertibleToFloat(c.ElementType) || c.ElementType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Double))
            throw new InvalidDataException($"{where}: fake-quantized initializer '{entry.Elements}' is {c.ElementType.OnnxName()}, expected a float type");
        float[] values = c.ReadFloat32();
        CheckCount(values.LongLength, layout, entry.Elements, where);
        return (values, c.ByteCount);
    }

    private static (float[], long) Qdq(OnnxModel model, QuantizedTensorEntry entry, MxPackedLayout layout, string where)
    {
        var data = ModelTensors.Find(model, entry.Elements) ?? throw new InvalidDataException($"{where}: DequantizeLinear data initializer '{entry.Elements}' is not in the model");
        string scaleName = entry.Scales ?? throw new InvalidDataException($"{where}: qdq weight without a scales initializer");
        var scale = ModelTensors.Find(model, scaleName) ?? throw new InvalidDataException($"{where}: scale initializer '{scaleName}' is not in the model");
        float[] codes = QdqElements(data, where);
        CheckCount(codes.LongLength, layout, entry.Elements, where);
        float[] scaleValues = scale.ElementType switch
        {
            TensorElementType.Float8E8M0 => scale.Graph.Model.GetTensorBytes(scale.Tensor).ToArray().Select(E8M0.ToFloat).ToArray(),
            TensorElementType.Float or TensorElementType.Float16 or TensorElementType.Double => scale.ReadFloat32(),
            _ => throw new InvalidDataException($"{where}: scale initializer '{scaleName}' is {scale.ElementType.OnnxName()}, expected float or float8e8m0"),
        };
        long expectedScales = layout.Rows * layout.BlocksPerRow;
        if (scaleValues.LongLength != expectedScales)
            throw new InvalidDataException($"{where}: scale initializer '{scaleName}' has {scaleValues.LongLength} values, expected {expectedScales} (block_shape [{string.Join(", ", layout.Shape)}] with axis {layout.Axis} in blocks of {layout.BlockSize})");
        var values = new float[codes.Length];
        long inner = layout.Inner, outerCount = layout.Rows / inner;
        int k = layout.K, nb = layout.BlocksPerRow, bs = layout.BlockSize;
        for (long o = 0; o < outerCount; o++)
            for (int j = 0; j < k; j++)
                for (long i = 0; i < inner; i++)
                {
                    long at = (o * k + j) * inner + i;
                    values[at] = codes[at] * scaleValues[(o * nb + j / bs) * inner + i];
                }
        return (values, data.ByteCount + scale.ByteCount);
    }

    // The element values of a DequantizeLinear data tensor, before scaling.
    private static float[] QdqElements(ConstantValue data, string where)
    {
        var bytes = data.Graph.Model.GetTensorBytes(data.Tensor).Span;
        long n = data.Tensor.ElementCount();
        var result = new float[n];
        switch (data.ElementType)
        {
            case TensorElementType.Int8:
                for (int i = 0; i < n; i++) result[i] = (sbyte)bytes[i];
                break;
            case TensorElementType.Float8E4M3FN:
                for (int i = 0; i < n; i++) result[i] = MxElementDecoding.Decode(MxFormats.Mxfp8E4M3, bytes[i]);
                break;
            case TensorElementType.Float8E5M2:
                for (int i = 0; i < n; i++) result[i] = MxElementDecoding.Decode(MxFormats.Mxfp8E5M2, bytes[i]);
                break;
            case TensorElementType.Int4:
                for (int i = 0; i < n; i++)
                {
                    int nibble = Nibble(bytes, i);
                    result[i] = nibble >= 8 ? nibble - 16 : nibble;
                }
                break;
            case TensorElementType.Float4E2M1:
                for (int i = 0; i < n; i++) result[i] = MxElementDecoding.Decode(MxFormats.Mxfp4E2M1, Nibble(bytes, i));
                break;
            default:
                throw new InvalidDataException($"{where}: DequantizeLinear data initializer '{data.Name}' is {data.ElementType.OnnxName()}, expected int8, int4, float8e4m3fn, float8e5m2 or float4e2m1");
        }
        return result;
    }

    // ONNX packs 4-bit elements two per byte, element 2i in the low nibble.
    private static int Nibble(ReadOnlySpan<byte> bytes, int i) => (bytes[i >> 1] >> ((i & 1) * 4)) & 0xF;

    private static void CheckCount(long count, MxPackedLayout layout, string name, string where)
    {
        if (count != layout.ElementCount)
            throw new InvalidDataException($"{where}: initializer '{name}' has {count} values but block_shape [{string.Join(", ", layout.Shape)}] holds {layout.ElementCount}");
    }
}
