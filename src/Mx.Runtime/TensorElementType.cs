namespace Mx.Runtime;

/// <summary>
/// Tensor element types, numbered as ONNX's <c>TensorProto.DataType</c>. This is the project's one element-type enum:
/// ONNX files, .npy files and our APIs all use it. ONNX Runtime's C enum agrees only up to <see cref="Float4E2M1"/>
/// (23); the ORT binding converts explicitly at its boundary.
/// </summary>
public enum TensorElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
    Float8E8M0 = 24,
    UInt2 = 25,
    Int2 = 26,
}

/// <summary>Sizes and names of <see cref="TensorElementType"/> values.</summary>
public static class TensorElementTypes
{
    /// <summary>Bits per element (4 for the 4-bit types, 2 for the 2-bit ones); 0 for <c>String</c> and <c>Undefined</c>.</summary>
    public static int BitsPerElement(this TensorElementType t) => t switch
    {
        TensorElementType.Float or TensorElementType.Int32 or TensorElementType.UInt32 => 32,
        TensorElementType.UInt8 or TensorElementType.Int8 or TensorElementType.Bool => 8,
        TensorElementType.Float8E4M3FN or TensorElementType.Float8E4M3FNUZ => 8,
        TensorElementType.Float8E5M2 or TensorElementType.Float8E5M2FNUZ or TensorElementType.Float8E8M0 => 8,
        TensorElementType.UInt16 or TensorElementType.Int16 or TensorElementType.Float16 or TensorElementType.BFloat16 => 16,
        TensorElementType.Int64 or TensorElementType.UInt64 or TensorElementType.Double or TensorElementType.Complex64 => 64,
        TensorElementType.Complex128 => 128,
        TensorElementType.UInt4 or TensorElementType.Int4 or TensorElementType.Float4E2M1 => 4,
        TensorElementType.UInt2 or TensorElementType.Int2 => 2,
        _ => 0,
    };

    /// <summary>Bytes needed to store <paramref name="count"/> elements packed (sub-byte types round up).</summary>
    public static long ByteCount(this TensorElementType t, long count) => (count * t.BitsPerElement() + 7) / 8;

    /// <summary>Lower-case ONNX-style name, e.g. <c>float</c>, <c>float16</c>, <c>int64</c>, <c>float4e2m1</c>.</summary>
    public static string OnnxName(this TensorElementType t) => t.ToString().ToLowerInvariant();
}
