namespace Mx.Runtime.Formats;

/// <summary>
/// Bit packing of element codes in a row (docs/packed-layout.md): a little-endian bit stream, least significant bit
/// first; element i occupies bits [i·bits, (i+1)·bits). So 4-bit element 2j is the low nibble of byte j, and four
/// 6-bit elements fill 3 bytes. Scalar reference; the vectorized codecs pack in registers with the same result.
/// </summary>
public static class MxBitPacking
{
    /// <summary>Bytes that <paramref name="count"/> elements of <paramref name="bits"/> bits occupy (rounded up).</summary>
    public static int PackedBytes(int count, int bits) => (int)(((long)count * bits + 7) / 8);

    /// <summary>Packs the low <paramref name="bits"/> bits of each code into <paramref name="packed"/> (overwritten).</summary>
    public static void Pack(ReadOnlySpan<byte> codes, Span<byte> packed, int bits)
    {
        int n = PackedBytes(codes.Length, bits);
        packed[..n].Clear();
        uint mask = (1u << bits) - 1;
        long bit = 0;
        foreach (byte c in codes)
        {
            uint v = c & mask;
            int byteIndex = (int)(bit >> 3), shift = (int)(bit & 7);
            packed[byteIndex] |= (byte)(v << shift);
            if (shift + bits > 8) packed[byteIndex + 1] |= (byte)(v >> (8 - shift));
            bit += bits;
        }
    }

    /// <summary>Unpacks <paramref name="codes"/>.Length codes of <paramref name="bits"/> bits from <paramref name="packed"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, Span<byte> codes, int bits)
    {
        uint mask = (1u << bits) - 1;
        long bit = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            int byteIndex = (int)(bit >> 3), shift = (int)(bit & 7);
            uint v = (uint)packed[byteIndex] >> shift;
            if (shift + bits > 8) v |= (uint)packed[byteIndex + 1] << (8 - shift);
            codes[i] = (byte)(v & mask);
            bit += bits;
        }
    }
}
