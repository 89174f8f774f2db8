namespace Mx.Runtime.Formats;

/// <summary>Vector256 codec (placeholder until the SIMD paths land).</summary>
internal static class MxVectorCodec
{
    public static bool Supports(MxFormat format, MxScaleMode mode) => false;

    public static int QuantizeFullBlocks(MxFormat format, ReadOnlySpan<float> row, int blockSize, Span<byte> elements, Span<byte> scales,
        MxScaleMode scaleMode, MxRounding rounding) => 0;

    public static int DequantizeFullBlocks(MxFormat format, ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, int blockSize, Span<float> row) => 0;
}
