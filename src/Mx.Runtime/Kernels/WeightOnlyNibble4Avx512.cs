using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// AVX-512 weight-only GEMV for 4-bit formats (block size 32 or 64), small M. vpermps reads only the low 4 bits of each
/// index dword, so a packed dword (8 nibbles) shifted right by 4j selects, for nibble j, an exact fp32 value from a
/// 16-entry table: 64 weight bytes (128 elements, 4 sub-blocks) become 8 vectors with 8 vpermps and 7 shifts, no
/// widening shuffles. Lane i of vector j is element 8i + j, so lanes 4q..4q+3 belong to sub-block q; A is laid out once
/// per call in that order (zero-padded to whole 512-element chunks). The 8 products per lane are summed, then one FMA
/// by the per-lane block scale (computed from the E8M0 bytes once per 16 sub-blocks). Four weight rows share every
/// activation load. Exact weights, fp32 FMA accumulation.
/// </summary>
internal static unsafe class WeightOnlyNibble4Avx512
{
    public const int NR = RowGroup.Rows;
    private const int Chunk = RowGroup.Chunk;

    /// <summary>Floats of laid-out A per row.</summary>
    public static int LaidOutK(int paddedK) => RowGroup.ChunkedK(paddedK);

    /// <summary>Writes row <paramref name="a"/> (K floats) as [step][j][i] = a[128·step + 8i + j], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LayOutA(float* a, int k, int kc, float* dst)
    {
        for (int step = 0; step < kc / 128; step++)
        {
            float* d = dst + step * 128;
            int b = step * 128;
            if (b + 128 <= k)
            {
                for (int i = 0; i < 16; i++)
                    for (int j = 0; j < 8; j++) d[j * 16 + i] = a[b + 8 * i + j];
            }
            else
            {
                for (int i = 0; i < 16; i++)
                    for (int j = 0; j < 8; j++) d[j * 16 + i] = b + 8 * i + j < k ? a[b + 8 * i + j] : 0f;
            }
        }
    }

    /// <summary>Y rows [n0, n1) for every row of the laid-out A (<paramref name="aL"/>: [M, LaidOutK]).</summary>
    [SkipLocalsInit]
    public static void Run(in GemmArgs g, float* aL, Vector512<float> table, float intScale, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int kc = LaidOutK(w.PaddedK), chunks = kc / Chunk;
        bool bs64 = w.BlockSize == 64;
        int chunkBytes = Chunk / 2, chunkScaleBytes = bs64 ? 8 : 16;
        int full = Math.Min(w.RowBytes / chunkBytes, w.BlocksPerRow / chunkScaleBytes);
        byte* tailE = stackalloc byte[NR * chunkBytes];
        byte* tailS = stackalloc byte[NR * 16];
        byte** e = stackalloc byte*[NR];
        byte** s = stackalloc byte*[NR];
        Vector512<float> unit = Vector512.Create(intScale);
        nint ahead = (nint)Jit.VnniGemvEmitter.PrefetchRows * w.RowBytes;
        Vector512<int> i0 = RowGroup.LaneIdx[0], i1 = RowGroup.LaneIdx[1], i2 = RowGroup.LaneIdx[2], i3 = RowGroup.LaneIdx[3];
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            RowGroup.Prepare(w, nt, n1, NR, chunkBytes, chunkScaleBytes, full, chunks, e, s, tailE, tailS);
            for (int m = 0; m < g.M; m++)
            {
                float* a = aL + (long)m * kc;
                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                for (int c = 0; c < chunks; c++)
                {
                    RowGroup.ChunkRows(c, full, chunkBytes, bs64, e, s, tailE, tailS, unit,
                        out byte* e0, out byte* e1, out byte* e2, out byte* e3, out var v0, out var v1, out var v2, out var v3);
                    float* ac = a + (long)c * Chunk;
                    StepRows(table, ahead, ac, e0, e1, e2, e3, i0, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(table, ahead, ac + 128, e0 + 64, e1 + 64, e2 + 64, e3 + 64, i1, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(table, ahead, ac + 256, e0 + 128, e1 + 128, e2 + 128, e3 + 128, i2, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(table, ahead, ac + 384, e0 + 192, e1 + 192, e2 + 192, e3 + 192, i3, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                }
                RowGroup.Store(g, m, nt, nc, f0, f1, f2, f3);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StepRows(Vector512<float> table, nint ahead, float* a, byte* e0, byte* e1, byte* e2, byte* e3, Vector512<int> idx,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        ref Vector512<float> f0, ref Vector512<float> f1, ref Vector512<float> f2, ref Vector512<float> f3)
    {
        // The same bytes PrefetchRows rows ahead, into L2 (see VnniGemvEmitter.PrefetchRows); a prefetch never faults,
        // so the rows past the end and the tail copies need no test.
        Sse.Prefetch1(e0 + ahead); Sse.Prefetch1(e1 + ahead); Sse.Prefetch1(e2 + ahead); Sse.Prefetch1(e3 + ahead);
        Vector512<float> a0 = Vector512.Load(a), a1 = Vector512.Load(a + 16), a2 = Vector512.Load(a + 32), a3 = Vector512.Load(a + 48),
                         a4 = Vector512.Load(a + 64), a5 = Vector512.Load(a + 80), a6 = Vector512.Load(a + 96), a7 = Vector512.Load(a + 112);
        f0 = Avx512F.FusedMultiplyAdd(Dot(table, e0, a0, a1, a2, a3, a4, a5, a6, a7), Avx512F.PermuteVar16x32(v0, idx), f0);
        f1 = Avx512F.FusedMultiplyAdd(Dot(table, e1, a0, a1, a2, a3, a4, a5, a6, a7), Avx512F.PermuteVar16x32(v1, idx), f1);
        f2 = Avx512F.FusedMultiplyAdd(Dot(table, e2, a0, a1, a2, a3, a4, a5, a6, a7), Avx512F.PermuteVar16x32(v2, idx), f2);
        f3 = Avx512F.FusedMultiplyAdd(Dot(table, e3, a0, a1, a2, a3, a4, a5, a6, a7), Avx512F.PermuteVar16x32(v3, idx), f3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Dot(Vector512<float> t, byte* e, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2,
        Vector512<float> a3, Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7)
    {
        Vector512<int> x = Vector512.Load((int*)e);
        Vector512<float> d = a0 * Avx512F.PermuteVar16x32(t, x);
        Vector512<float> h = a1 * Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 4));
        d = Avx512F.FusedMultiplyAdd(a2, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 8)), d);
        h = Avx512F.FusedMultiplyAdd(a3, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 12)), h);
        d = Avx512F.FusedMultiplyAdd(a4, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 16)), d);
        h = Avx512F.FusedMultiplyAdd(a5, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 20)), h);
        d = Avx512F.FusedMultiplyAdd(a6, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 24)), d);
        h = Avx512F.FusedMultiplyAdd(a7, Avx512F.PermuteVar16x32(t, Vector512.ShiftRightLogical(x, 28)), h);
        return d + h;
    }
}
