namespace Mx.Runtime.Ort;

/// <summary>Reads element type and shape out of an <c>OrtTensorTypeAndShapeInfo</c>.</summary>
internal static unsafe class OrtTensorShapes
{
    public static TensorElementType ElementType(nint info)
    {
        OrtNative.Check(OrtNative.GetTensorElementType(info, out int t));
        return OrtElementTypes.FromOrt(t);
    }

    public static long[] Dimensions(nint info)
    {
        OrtNative.Check(OrtNative.GetDimensionsCount(info, out nuint n));
        var dims = new long[(int)n];
        fixed (long* p = dims) OrtNative.Check(OrtNative.GetDimensions(info, p, n));
        return dims;
    }

    /// <summary>Type and shape of an OrtValue that holds a tensor.</summary>
    public static (TensorElementType Type, long[] Shape) OfValue(nint value)
    {
        OrtNative.Check(OrtNative.GetTensorTypeAndShape(value, out nint info));
        try
        {
            return (ElementType(info), Dimensions(info));
        }
        finally
        {
            OrtNative.ReleaseTensorTypeAndShapeInfo(info);
        }
    }
}
