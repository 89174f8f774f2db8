using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Onnx.Tensors;

/// <summary>Element type, shape and byte size of a <see cref="TensorProto"/>.</summary>
public static class TensorLayout
{
    /// <summary>The tensor's element type.</summary>
    public static TensorElementType ElementType(this TensorProto tensor) => (TensorElementType)tensor.DataType;

    /// <summary>The tensor's dimensions.</summary>
    public static long[] Shape(this TensorProto tensor) => tensor.Dims.ToArray();

    /// <summary>Number of elements (1 for a scalar).</summary>
    /// <exception cref="OnnxFormatException">A negative dimension or an element count that overflows.</exception>
    public static long ElementCount(this TensorProto tensor)
    {
        long n = 1;
        foreach (long d in tensor.Dims)
        {
            if (d < 0) throw new OnnxFormatException($"tensor '{tensor.Name}' has a negative dimension in [{string.Join(", ", tensor.Dims)}]");
            try { n = checked(n * d); }
            catch (OverflowException) { throw new OnnxFormatException($"tensor '{tensor.Name}': shape [{string.Join(", ", tensor.Dims)}] has too many elements"); }
        }
        return n;
    }

    /// <summary>Bytes the tensor's data takes in raw (little-endian, packed) form; null for strings and unknown types.</summary>
    public static long? ByteCountOrNull(TensorProto tensor)
    {
        int bits = tensor.ElementType().BitsPerElement();
        if (bits == 0 || !Enum.IsDefined(tensor.ElementType())) return null;
        return tensor.ElementType().ByteCount(tensor.ElementCount());
    }

    /// <summary>Shape as text, e.g. <c>[64, 128]</c>.</summary>
    public static string ShapeText(IEnumerable<long> dims) => $"[{string.Join(", ", dims)}]";
}
