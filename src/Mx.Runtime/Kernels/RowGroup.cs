using System.Runtime.CompilerServices;

namespace Mx.Runtime.Kernels;

/// <summary>
/// The weight rows one MX×MX row group reads chunk by chunk (AVX-512 kernels): a pointer to each row's elements and
/// scales, and for a last chunk that is not whole, zero-padded copies so the chunk loop never reads past a row.
/// Zero padding is harmless: the matching activation codes past the row are 0.
/// </summary>
internal static unsafe class RowGroup
{
    /// <summary>
    /// Points <paramref name="e"/>/<paramref name="s"/> at rows <paramref name="nt"/>… (<paramref name="nr"/> of them;
    /// past the last row the last one repeats) and, when <paramref name="full"/> &lt; <paramref name="chunks"/>, copies
    /// the rows' tail chunks into <paramref name="tailE"/> (nr × chunkBytes) and <paramref name="tailS"/> (nr × 16).
    /// </summary>
    // Fully optimized from the first call and inlined: kernels called through ORT otherwise run Tier-0 code for a while.
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Prepare(MxPackedWeight w, int nt, int n1, int nr, int chunkBytes, int chunkScaleBytes, int full, int chunks,
        byte** e, byte** s, byte* tailE, byte* tailS)
    {
        int nc = Math.Min(nr, n1 - nt);
        for (int i = 0; i < nr; i++)
        {
            int n = nt + Math.Min(i, nc - 1);
            e[i] = w.Elements + (long)n * w.RowBytes;
            s[i] = w.Scales + (long)n * w.BlocksPerRow;
        }
        if (full >= chunks) return;
        new Span<byte>(tailE, nr * chunkBytes).Clear();
        new Span<byte>(tailS, nr * 16).Clear();
        int eb = w.RowBytes - full * chunkBytes, sb = w.BlocksPerRow - full * chunkScaleBytes;
        for (int i = 0; i < nr; i++)
        {
            Buffer.MemoryCopy(e[i] + (long)full * chunkBytes, tailE + i * chunkBytes, chunkBytes, eb);
            Buffer.MemoryCopy(s[i] + (long)full * chunkScaleBytes, tailS + i * 16, 16, sb);
        }
    }
}
