using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// The 4-row groups the AVX-512 GEMV kernels (<see cref="MxMxNibble4Avx512"/>, <see cref="MxMxInt8Avx512"/>,
/// <see cref="WeightOnlyNibble4Avx512"/>) walk chunk by chunk (<see cref="Chunk"/> elements, 16 sub-blocks, one scale
/// vector): the row/tail setup, the per-chunk row pointers and lane scales, and the final sums into Y.
/// A last chunk that is not whole is read from zero-padded copies so the chunk loop never reads past a row; zero padding
/// is harmless because the matching activations past the row are 0.
/// </summary>
internal static unsafe class RowGroup
{
    /// <summary>Weight rows per group (four accumulators share each activation load).</summary>
    public const int Rows = 4;
    /// <summary>Elements per chunk: 16 sub-blocks of 32, one zmm of lane scales.</summary>
    public const int Chunk = 512;

    /// <summary>Padded K (multiple of <see cref="Chunk"/>) of the prepared activations.</summary>
    public static int ChunkedK(int paddedK) => (paddedK + Chunk - 1) / Chunk * Chunk;

    /// <summary>Per-lane sub-block index vectors: lanes of step q (4 sub-blocks × 4 int32 lanes) → sub-blocks 4q..4q+3.</summary>
    internal static readonly Vector512<int>[] LaneIdx =
    [
        Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
        Vector512.Create(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
        Vector512.Create(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11),
        Vector512.Create(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15),
    ];

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

    /// <summary>
    /// Chunk <paramref name="c"/> of the group set up by <see cref="Prepare"/>: each row's element pointer (into the row,
    /// or into the tail copy from chunk <paramref name="full"/> on) and its 16 sub-block scales times <paramref name="mul"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ChunkRows(int c, int full, int chunkBytes, bool bs64, byte** e, byte** s, byte* tailE, byte* tailS, Vector512<float> mul,
        out byte* e0, out byte* e1, out byte* e2, out byte* e3,
        out Vector512<float> v0, out Vector512<float> v1, out Vector512<float> v2, out Vector512<float> v3)
    {
        Vector128<byte> b0, b1, b2, b3;
        if (c < full)
        {
            long eo = (long)c * chunkBytes;
            e0 = e[0] + eo; e1 = e[1] + eo; e2 = e[2] + eo; e3 = e[3] + eo;
            b0 = ChunkScales(s[0], c, bs64); b1 = ChunkScales(s[1], c, bs64);
            b2 = ChunkScales(s[2], c, bs64); b3 = ChunkScales(s[3], c, bs64);
        }
        else
        {
            e0 = tailE; e1 = tailE + chunkBytes; e2 = tailE + 2 * chunkBytes; e3 = tailE + 3 * chunkBytes;
            b0 = ChunkScales(tailS, 0, bs64); b1 = ChunkScales(tailS + 16, 0, bs64);
            b2 = ChunkScales(tailS + 32, 0, bs64); b3 = ChunkScales(tailS + 48, 0, bs64);
        }
        v0 = E8M0ToFloat(b0) * mul; v1 = E8M0ToFloat(b1) * mul; v2 = E8M0ToFloat(b2) * mul; v3 = E8M0ToFloat(b3) * mul;
    }

    /// <summary>Y[m, nt..nt+nc) = the lane sums of the group's accumulators (+ bias).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(in GemmArgs g, int m, int nt, int nc, Vector512<float> f0, Vector512<float> f1, Vector512<float> f2, Vector512<float> f3)
    {
        float* y = g.Y + (long)m * g.W.Rows + nt;
        y[0] = Vector512.Sum(f0) + Bias(g, nt);
        if (nc > 1) y[1] = Vector512.Sum(f1) + Bias(g, nt + 1);
        if (nc > 2) y[2] = Vector512.Sum(f2) + Bias(g, nt + 2);
        if (nc > 3) y[3] = Vector512.Sum(f3) + Bias(g, nt + 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Bias(in GemmArgs g, int n) => g.Bias == null ? 0f : g.Bias[n];

    /// <summary>16 sub-block scale bytes of chunk <paramref name="c"/> (bs 32: 16 block bytes; bs 64: 8, each twice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<byte> ChunkScales(byte* rowScales, int c, bool bs64)
    {
        if (!bs64) return Vector128.Load(rowScales + c * 16);
        Vector128<byte> v = Vector128.CreateScalar(*(ulong*)(rowScales + c * 8)).AsByte();
        return Ssse3.Shuffle(v, Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    }

    /// <summary>E8M0 bytes (one per lane) → 2^(b−127) as float; 0 → 2^−127 (subnormal), 0xFF → NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> E8M0ToFloat(Vector128<byte> bytes)
    {
        Vector512<int> b = Avx512F.ConvertToVector512Int32(bytes);
        Vector512<int> bits = Vector512.ShiftLeft(b, 23);
        bits = Vector512.ConditionalSelect(Vector512.Equals(b, Vector512<int>.Zero), Vector512.Create(0x00400000), bits);
        bits = Vector512.ConditionalSelect(Vector512.Equals(b, Vector512.Create(255)), Vector512.Create(0x7FC00000), bits);
        return bits.AsSingle();
    }
}
