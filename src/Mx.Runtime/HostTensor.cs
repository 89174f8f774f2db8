using System.Runtime.InteropServices;

namespace Mx.Runtime;

/// <summary>
/// A dense tensor in managed memory: element type, shape (row-major, C order) and the raw little-endian bytes.
/// The common currency between .npy files, ONNX initializers and ONNX Runtime inputs and outputs.
/// Sub-byte types (4-bit, 2-bit) are packed as ONNX packs them: element 2i in the low nibble.
/// </summary>
public sealed class HostTensor
{
    /// <summary>Creates a tensor over <paramref name="data"/> (not copied).</summary>
    /// <exception cref="ArgumentException">The byte count does not match the shape and element type.</exception>
    public HostTensor(TensorElementType elementType, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (elementType is TensorElementType.String or TensorElementType.Undefined)
            throw new ArgumentException($"element type {elementType} cannot be held in a HostTensor", nameof(elementType));
        foreach (long d in shape)
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
        long expected = elementType.ByteCount(ElementCountOf(shape));
        if (data.LongLength != expected)
            throw new ArgumentException($"{data.LongLength} bytes do not hold a {elementType.OnnxName()} tensor of shape [{string.Join(", ", shape)}] ({expected} bytes expected)", nameof(data));
        ElementType = elementType;
        Shape = shape;
        Data = data;
    }

    /// <summary>The element type.</summary>
    public TensorElementType ElementType { get; }

    /// <summary>The dimensions; empty for a scalar.</summary>
    public long[] Shape { get; }

    /// <summary>The raw bytes, little-endian, C order.</summary>
    public byte[] Data { get; }

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>The elements as <typeparamref name="T"/>; the caller picks the type that matches <see cref="ElementType"/>.</summary>
    public Span<T> AsSpan<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Data.AsSpan());

    /// <summary>
    /// The elements converted to float32: float32 copied, float16/bfloat16 widened exactly, float64 rounded to nearest,
    /// integers and bool converted by value.
    /// </summary>
    /// <exception cref="NotSupportedException">A 4-/2-bit, float8, complex or string tensor.</exception>
    public float[] ToFloatArray()
    {
        var result = new float[ElementCount];
        switch (ElementType)
        {
            case TensorElementType.Float: AsSpan<float>().CopyTo(result); break;
            case TensorElementType.Float16: Convert(AsSpan<Half>(), result, h => (float)h); break;
            case TensorElementType.BFloat16: Convert(AsSpan<ushort>(), result, b => BitConverter.Int32BitsToSingle(b << 16)); break;
            case TensorElementType.Double: Convert(AsSpan<double>(), result, d => (float)d); break;
            case TensorElementType.Int8: Convert(AsSpan<sbyte>(), result, v => v); break;
            case TensorElementType.UInt8 or TensorElementType.Bool: Convert(AsSpan<byte>(), result, v => v); break;
            case TensorElementType.Int16: Convert(AsSpan<short>(), result, v => v); break;
            case TensorElementType.UInt16: Convert(AsSpan<ushort>(), result, v => v); break;
            case TensorElementType.Int32: Convert(AsSpan<int>(), result, v => v); break;
            case TensorElementType.UInt32: Convert(AsSpan<uint>(), result, v => v); break;
            case TensorElementType.Int64: Convert(AsSpan<long>(), result, v => v); break;
            case TensorElementType.UInt64: Convert(AsSpan<ulong>(), result, v => v); break;
            default: throw new NotSupportedException($"cannot convert a {ElementType.OnnxName()} tensor to float32");
        }
        return result;
    }

    private static void Convert<T>(ReadOnlySpan<T> source, Span<float> target, Func<T, float> convert)
    {
        for (int i = 0; i < source.Length; i++) target[i] = convert(source[i]);
    }

    /// <summary>A new tensor of the given type and shape with zeroed contents.</summary>
    public static HostTensor Zeros(TensorElementType elementType, params long[] shape) =>
        new(elementType, shape, new byte[elementType.ByteCount(ElementCountOf(shape))]);

    /// <summary>A float32 tensor holding a copy of <paramref name="values"/>.</summary>
    public static HostTensor FromFloats(ReadOnlySpan<float> values, params long[] shape)
    {
        var t = Zeros(TensorElementType.Float, shape);
        if (values.Length != t.ElementCount)
            throw new ArgumentException($"{values.Length} values do not fill shape [{string.Join(", ", shape)}]");
        values.CopyTo(t.AsSpan<float>());
        return t;
    }

    /// <summary>Product of the dimensions (1 for an empty shape).</summary>
    public static long ElementCountOf(ReadOnlySpan<long> shape)
    {
        long n = 1;
        foreach (long d in shape) n = checked(n * d);
        return n;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{ElementType.OnnxName()}[{string.Join(", ", Shape)}]";
}
