namespace Mx.Runtime.Formats;

/// <summary>
/// Quantize+pack and unpack+dequantize of one row (the K values along the block axis) into a row of the packed
/// layout: its element bytes, its scale bytes and its micro-exponent bytes. Dispatches to the vectorized codec when
/// it covers the format and mode, else to the scalar reference; both give identical bits.
/// </summary>
public static class MxRowCodec
{
    /// <summary>
    /// Quantizes <paramref name="row"/> (K values) into ceil(K / blockSize) blocks. <paramref name="elements"/> needs
    /// blocks · blockSize · bits / 8 bytes, <paramref name="scales"/> one byte per block, <paramref name="micro"/>
    /// blockSize/16 bytes per block for MX9/6/4 (else may be empty). Padding elements get code 0.
    /// </summary>
    public static void Quantize(MxFormat format, ReadOnlySpan<float> row, int blockSize, Span<byte> elements, Span<byte> scales,
        Span<byte> micro, MxScaleMode scaleMode = MxScaleMode.Floor, MxRounding rounding = MxRounding.NearestEven,
        MxCodecPath path = MxCodecPath.Auto)
    {
        int nb = (row.Length + blockSize - 1) / blockSize;
        int blockBytes = blockSize * format.ElementBits / 8;
        int microBytes = format.Kind == MxElementKind.SharedMicroExponent ? blockSize / 16 : 0;
        CheckSizes(elements.Length, scales.Length, micro.Length, nb, blockBytes, microBytes);
        int done = 0;
        if (path != MxCodecPath.Scalar && MxVectorCodec.Supports(format, scaleMode))
            done = MxVectorCodec.QuantizeFullBlocks(format, row, blockSize, elements, scales, micro, scaleMode, rounding);
        if (done == nb) return;
        Span<byte> codes = stackalloc byte[blockSize];
        for (int b = done; b < nb; b++)
        {
            var values = row.Slice(b * blockSize, Math.Min(blockSize, row.Length - b * blockSize));
            scales[b] = MxBlockReference.Quantize(format, values, codes, scaleMode, rounding, out ulong m);
            MxBitPacking.Pack(codes, elements.Slice(b * blockBytes, blockBytes), format.ElementBits);
            for (int i = 0; i < microBytes; i++) micro[b * microBytes + i] = (byte)(m >> (8 * i));
        }
    }

    /// <summary>
    /// Decodes a packed row back to K = <paramref name="row"/>.Length float32 values (padding is not written).
    /// See <see cref="MxBlockReference.Dequantize"/> for the exact value of each element.
    /// </summary>
    public static void Dequantize(MxFormat format, ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> micro,
        int blockSize, Span<float> row, MxCodecPath path = MxCodecPath.Auto)
    {
        int nb = (row.Length + blockSize - 1) / blockSize;
        int blockBytes = blockSize * format.ElementBits / 8;
        int microBytes = format.Kind == MxElementKind.SharedMicroExponent ? blockSize / 16 : 0;
        CheckSizes(elements.Length, scales.Length, micro.Length, nb, blockBytes, microBytes);
        int done = 0;
        if (path != MxCodecPath.Scalar && MxVectorCodec.Supports(format, MxScaleMode.Floor))
            done = MxVectorCodec.DequantizeFullBlocks(format, elements, scales, micro, blockSize, row);
        if (done == nb) return;
        Span<byte> codes = stackalloc byte[blockSize];
        for (int b = done; b < nb; b++)
        {
            MxBitPacking.Unpack(elements.Slice(b * blockBytes, blockBytes), codes, format.ElementBits);
            ulong m = 0;
            for (int i = 0; i < microBytes; i++) m |= (ulong)micro[b * microBytes + i] << (8 * i);
            int len = Math.Min(blockSize, row.Length - b * blockSize);
            MxBlockReference.Dequantize(format, codes[..len], scales[b], m, row.Slice(b * blockSize, len));
        }
    }

    private static void CheckSizes(int elements, int scales, int micro, int nb, int blockBytes, int microBytes)
    {
        if (elements < nb * blockBytes || scales < nb || micro < nb * microBytes)
            throw new ArgumentException(
                $"row buffers too small: {nb} blocks need {nb * blockBytes} element bytes, {nb} scale bytes and {nb * microBytes} micro bytes " +
                $"(got {elements}, {scales}, {micro})");
    }
}
