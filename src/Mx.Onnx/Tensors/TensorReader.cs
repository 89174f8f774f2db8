using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Mx.Onnx.ExternalData;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Onnx.Tensors;

/// <summary>
/// Reads the values of a <see cref="TensorProto"/> wherever ONNX lets them live: <c>raw_data</c>, the typed repeated
/// fields (<c>float_data</c>, <c>int32_data</c>, ...), or external data (through an <see cref="ExternalDataStore"/>).
/// </summary>
public static class TensorReader
{
    /// <summary>
    /// The tensor's bytes in raw form (little-endian, C order, sub-byte types packed): a view of <c>raw_data</c> or of
    /// the mapped external file when the data is stored that way, otherwise a copy converted from the typed field.
    /// </summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="store">Resolves external data; may be null when the tensor is not external.</param>
    /// <exception cref="OnnxFormatException">The stored data does not match the type and shape, or cannot be found.</exception>
    public static ReadOnlyMemory<byte> RawBytes(TensorProto tensor, ExternalDataStore? store)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX tensor data is little-endian; big-endian hosts are not supported");
        var type = tensor.ElementType();
        if (type is TensorElementType.String)
            throw new OnnxFormatException($"tensor '{tensor.Name}' holds strings, which have no raw byte form");
        long expected = TensorLayout.ByteCountOrNull(tensor)
            ?? throw new OnnxFormatException($"tensor '{tensor.Name}' has unknown data_type {tensor.DataType}");
        if (ExternalDataReference.IsExternal(tensor))
        {
            if (store is null) throw new OnnxFormatException($"tensor '{tensor.Name}' is stored externally but the model has no external data store");
            return store.Read(tensor);
        }
        if (tensor.HasRawData)
        {
            if (tensor.RawData.Length != expected)
                throw new OnnxFormatException($"tensor '{tensor.Name}': raw_data has {tensor.RawData.Length} bytes but {type.OnnxName()} {TensorLayout.ShapeText(tensor.Dims)} needs {expected}");
            return tensor.RawData.Memory;
        }
        return FromTypedField(tensor, type, expected);
    }

    /// <summary>The tensor as a dense <see cref="HostTensor"/> (a copy).</summary>
    public static HostTensor ToHostTensor(TensorProto tensor, ExternalDataStore? store) =>
        new(tensor.ElementType(), tensor.Shape(), RawBytes(tensor, store).ToArray());

    /// <summary>
    /// The tensor's values converted to float32: float, float16, bfloat16, double, and the 8/16/32/64-bit signed and
    /// unsigned integers (and bool) are accepted.
    /// </summary>
    /// <exception cref="NotSupportedException">Another element type (string, complex, float8, 4-bit, 2-bit).</exception>
    public static float[] ToFloat32(TensorProto tensor, ExternalDataStore? store)
    {
        var type = tensor.ElementType();
        if (!IsConvertibleToFloat(type))
            throw new NotSupportedException($"tensor '{tensor.Name}': reading {type.OnnxName()} as float32 is not supported");
        var bytes = RawBytes(tensor, store).Span;
        long count = tensor.ElementCount();
        var result = new float[count];
        switch (type)
        {
            case TensorElementType.Float: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result); break;
            case TensorElementType.Double: Convert(MemoryMarshal.Cast<byte, double>(bytes), result, v => (float)v); break;
            case TensorElementType.Float16: Convert(MemoryMarshal.Cast<byte, Half>(bytes), result, v => (float)v); break;
            case TensorElementType.BFloat16: Convert(MemoryMarshal.Cast<byte, ushort>(bytes), result, v => BitConverter.Int32BitsToSingle(v << 16)); break;
            case TensorElementType.Int8: Convert(MemoryMarshal.Cast<byte, sbyte>(bytes), result, v => v); break;
            case TensorElementType.UInt8 or TensorElementType.Bool: Convert(bytes, result, v => v); break;
            case TensorElementType.Int16: Convert(MemoryMarshal.Cast<byte, short>(bytes), result, v => v); break;
            case TensorElementType.UInt16: Convert(MemoryMarshal.Cast<byte, ushort>(bytes), result, v => v); break;
            case TensorElementType.Int32: Convert(MemoryMarshal.Cast<byte, int>(bytes), result, v => v); break;
            case TensorElementType.UInt32: Convert(MemoryMarshal.Cast<byte, uint>(bytes), result, v => v); break;
            case TensorElementType.Int64: Convert(MemoryMarshal.Cast<byte, long>(bytes), result, v => v); break;
            case TensorElementType.UInt64: Convert(MemoryMarshal.Cast<byte, ulong>(bytes), result, v => v); break;
        }
        return result;
    }

    /// <summary>Whether <see cref="ToFloat32"/> accepts the element type.</summary>
    public static bool IsConvertibleToFloat(TensorElementType type) => type is TensorElementType.Float or TensorElementType.Double
        or TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Int8 or TensorElementType.UInt8
        or TensorElementType.Bool or TensorElementType.Int16 or TensorElementType.UInt16 or TensorElementType.Int32
        or TensorElementType.UInt32 or TensorElementType.Int64 or TensorElementType.UInt64;

    private static void Convert<T>(ReadOnlySpan<T> source, float[] target, Func<T, float> f)
    {
        for (int i = 0; i < target.Length; i++) target[i] = f(source[i]);
    }

    // The typed fields: which one holds which element type is fixed by the ONNX IR (see onnx.proto's TensorProto).
    private static byte[] FromTypedField(TensorProto t, TensorElementType type, long expected)
    {
        long count = t.ElementCount();
        var bytes = new byte[expected];
        var span = bytes.AsSpan();
        switch (type)
        {
            case TensorElementType.Float or TensorElementType.Complex64:
                Check(t.FloatData.Count, type is TensorElementType.Complex64 ? 2 * count : count, "float_data");
                MemoryMarshal.AsBytes(t.FloatData.ToArray().AsSpan()).CopyTo(span);
                break;
            case TensorElementType.Double or TensorElementType.Complex128:
                Check(t.DoubleData.Count, type is TensorElementType.Complex128 ? 2 * count : count, "double_data");
                MemoryMarshal.AsBytes(t.DoubleData.ToArray().AsSpan()).CopyTo(span);
                break;
            case TensorElementType.Int64:
                Check(t.Int64Data.Count, count, "int64_data");
                MemoryMarshal.AsBytes(t.Int64Data.ToArray().AsSpan()).CopyTo(span);
                break;
            case TensorElementType.UInt64:
                Check(t.Uint64Data.Count, count, "uint64_data");
                MemoryMarshal.AsBytes(t.Uint64Data.ToArray().AsSpan()).CopyTo(span);
                break;
            case TensorElementType.UInt32:
                Check(t.Uint64Data.Count, count, "uint64_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteUInt32LittleEndian(span[(4 * i)..], (uint)t.Uint64Data[i]);
                break;
            case TensorElementType.Int32:
                Check(t.Int32Data.Count, count, "int32_data");
                MemoryMarshal.AsBytes(t.Int32Data.ToArray().AsSpan()).CopyTo(span);
                break;
            case TensorElementType.Int16 or TensorElementType.UInt16 or TensorElementType.Float16 or TensorElementType.BFloat16:
                Check(t.Int32Data.Count, count, "int32_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteUInt16LittleEndian(span[(2 * i)..], (ushort)t.Int32Data[i]);
                break;
            case TensorElementType.Int8 or TensorElementType.UInt8 or TensorElementType.Bool
                or TensorElementType.Float8E4M3FN or TensorElementType.Float8E4M3FNUZ or TensorElementType.Float8E5M2
                or TensorElementType.Float8E5M2FNUZ or TensorElementType.Float8E8M0:
                Check(t.Int32Data.Count, count, "int32_data");
                for (int i = 0; i < count; i++) span[i] = (byte)t.Int32Data[i];
                break;
            default:
                throw new NotSupportedException($"tensor '{t.Name}': {type.OnnxName()} data stored in a typed field is not supported (only raw_data)");
        }
        return bytes;

        void Check(int have, long need, string field)
        {
            if (have != need)
                throw new OnnxFormatException($"tensor '{t.Name}': {field} has {have} values but {type.OnnxName()} {TensorLayout.ShapeText(t.Dims)} needs {need}");
        }
    }
}
