using Mx.Runtime.Formats;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Decodes one packed block of any format and block size into floats, one element at a time through the code → value
/// table. The plain path: the reference kernels use it, and the SIMD kernels use it for layouts they have no
/// specialised decoder for (block sizes 8/16, MX9/MX6/MX4).
/// </summary>
internal static unsafe class ScalarBlockDecoder
{
    /// <summary>Element code <paramref name="i"/> of a bit stream that starts on a byte (LSB first, ≤ 8 bits per code).</summary>
    public static int Code(byte* stream, int i, int bits)
    {
        int bit = i * bits;
        int at = bit >> 3, shift = bit & 7;
        int v = stream[at] >> shift;
        if (shift + bits > 8) v |= stream[at + 1] << (8 - shift);   // only read the next byte when the code reaches it
        return v & ((1 << bits) - 1);
    }

    /// <summary>Unscaled element value of element <paramref name="i"/> of block <paramref name="block"/> of row <paramref name="row"/>, micro-exponent applied.</summary>
    public static float Value(MxPackedWeight w, float* table, int row, int block, int i)
    {
        byte* blk = w.Elements + (long)row * w.RowBytes + (long)block * w.BlockBytes;
        float v = table[Code(blk, i, w.Format.ElementBits)];
        if (w.Micro != null && ((w.Micro[(long)row * w.BlocksPerRow + block] >> (i >> 1)) & 1) != 0)
            v *= 0.5f;   // micro-exponent bit set: this pair is scaled by 2^-1 (BDR shared micro-exponent)
        return v;
    }

    /// <summary>Writes the <see cref="MxPackedWeight.BlockSize"/> scaled values of one block to <paramref name="dst"/> (padding decodes to 0).</summary>
    public static void DecodeScaled(MxPackedWeight w, float* table, int row, int block, float* dst)
    {
        byte* p = w.Elements + (long)row * w.RowBytes + (long)block * w.BlockBytes;
        float scale = FormatTables.E8M0[w.Scales[(long)row * w.BlocksPerRow + block]];
        // Micro-exponent bit p set: pair p is scaled by 2^-1 (BDR shared micro-exponent); 0 for other formats.
        uint micro = w.Micro == null ? 0u : w.Micro[(long)row * w.BlocksPerRow + block];
        float half = scale * 0.5f;
        int bits = w.Format.ElementBits, mask = (1 << bits) - 1;
        // Bit stream read one byte at a time (bits ≤ 8): never touches a byte past the block.
        uint acc = 0;
        int have = 0;
        for (int i = 0; i < w.BlockSize; i++)
        {
            if (have < bits) { acc |= (uint)*p++ << have; have += 8; }
            int code = (int)acc & mask;
            acc >>= bits;
            have -= bits;
            dst[i] = table[code] * (((micro >> (i >> 1)) & 1) != 0 ? half : scale);
        }
    }
}
