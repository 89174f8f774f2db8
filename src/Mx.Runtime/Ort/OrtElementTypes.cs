namespace Mx.Runtime.Ort;

/// <summary>
/// Converts between ORT's <c>ONNXTensorElementDataType</c> and <see cref="TensorElementType"/> (ONNX numbering).
/// The two agree up to FLOAT4E2M1 = 23 and differ after it: ORT has UINT2 = 24, INT2 = 25, FLOAT8E8M0 = 26,
/// ONNX has FLOAT8E8M0 = 24, UINT2 = 25, INT2 = 26. Never cast one to the other.
/// </summary>
public static class OrtElementTypes
{
    /// <summary>The ORT enum value for <paramref name="type"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a known element type.</exception>
    public static int ToOrt(TensorElementType type) => type switch
    {
        >= TensorElementType.Undefined and <= TensorElementType.Float4E2M1 => (int)type,
        TensorElementType.UInt2 => 24,
        TensorElementType.Int2 => 25,
        TensorElementType.Float8E8M0 => 26,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown tensor element type"),
    };

    /// <summary>The <see cref="TensorElementType"/> for ORT's enum value <paramref name="ortType"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">ORT reported a type this binding does not know.</exception>
    public static TensorElementType FromOrt(int ortType) => ortType switch
    {
        >= 0 and <= 23 => (TensorElementType)ortType,
        24 => TensorElementType.UInt2,
        25 => TensorElementType.Int2,
        26 => TensorElementType.Float8E8M0,
        _ => throw new ArgumentOutOfRangeException(nameof(ortType), ortType, "unknown ONNX Runtime element type"),
    };

    /// <summary>The element type that the managed type <typeparamref name="T"/> stands for in typed tensor access.</summary>
    /// <remarks>float, Half, double, long, int, short, ushort, uint, ulong, sbyte, byte (uint8) and bool.</remarks>
    public static TensorElementType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? TensorElementType.Float
        : typeof(T) == typeof(Half) ? TensorElementType.Float16
        : typeof(T) == typeof(double) ? TensorElementType.Double
        : typeof(T) == typeof(long) ? TensorElementType.Int64
        : typeof(T) == typeof(int) ? TensorElementType.Int32
        : typeof(T) == typeof(short) ? TensorElementType.Int16
        : typeof(T) == typeof(ushort) ? TensorElementType.UInt16
        : typeof(T) == typeof(uint) ? TensorElementType.UInt32
        : typeof(T) == typeof(ulong) ? TensorElementType.UInt64
        : typeof(T) == typeof(sbyte) ? TensorElementType.Int8
        : typeof(T) == typeof(byte) ? TensorElementType.UInt8
        : typeof(T) == typeof(bool) ? TensorElementType.Bool
        : throw new NotSupportedException($"{typeof(T).Name} is not a tensor element type");
}
