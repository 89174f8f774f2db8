using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// AVX-512 weight-only GEMV for 4-bit formats (block size a multiple of 32), small M. Each 16 weight bytes (one
/// 32-element sub-block) are zero-extended to 16 dwords with one vpmovzxbd; vpermps reads only the low 4 bits of each
/// index, so the dword itself selects the even element's value from a 16-entry fp32 table and the dword shifted right
/// by 4 the odd element's — exact fp32 weights without masking or int→float conversion. A is permuted once per call
/// into [16 even, 16 odd] per 32 elements (zero-padded). Four weight rows share every activation load; the block scale
/// is one FMA per sub-block and row.
/// </summary>
internal static unsafe class WeightOnlyNibble4Avx512
{
    public const int NR = 4;

    /// <summary>Writes <paramref name="k"/> floats of <paramref name="a"/> into ceil(K/32)·32 floats: per 32, even then odd elements.</summary>
    public static void PermuteA(float* a, int k, float* dst)
    {
        int k32 = (k + 31) & ~31;
        int c = 0;
        Vector512<int> evenIdx = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        Vector512<int> oddIdx = evenIdx + Vector512<int>.One;
        for (; c + 32 <= k; c += 32)
        {
            Vector512<float> x0 = Vector512.Load(a + c), x1 = Vector512.Load(a + c + 16);
            Avx512F.PermuteVar16x32x2(x0, evenIdx, x1).Store(dst + c);
            Avx512F.PermuteVar16x32x2(x0, oddIdx, x1).Store(dst + c + 16);
        }
        for (; c < k32; c += 32)
            for (int i = 0; i < 16; i++)
            {
                int e = c + 2 * i;
                dst[c + i] = e < k ? a[e] : 0f;
                dst[c + 16 + i] = e + 1 < k ? a[e + 1] : 0f;
            }
    }

    /// <summary>Y rows [n0, n1) for every row of the permuted A (<paramref name="aPerm"/>: [M, ceil(K/32)·32]).</summary>
    [SkipLocalsInit]
    public static void Run(in GemmArgs g, float* aPerm, Vector512<float> table, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int k32 = (w.K + 31) & ~31, subs = k32 >> 5, subShift = w.BlockSize == 64 ? 1 : 0;
        float* st = g.ScaleTable;
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            int r1 = nt + Math.Min(1, nc - 1), r2 = nt + Math.Min(2, nc - 1), r3 = nt + Math.Min(3, nc - 1);
            byte* e0 = w.Elements + (long)nt * w.RowBytes, e1 = w.Elements + (long)r1 * w.RowBytes,
                  e2 = w.Elements + (long)r2 * w.RowBytes, e3 = w.Elements + (long)r3 * w.RowBytes;
            byte* s0 = w.Scales + (long)nt * w.BlocksPerRow, s1 = w.Scales + (long)r1 * w.BlocksPerRow,
                  s2 = w.Scales + (long)r2 * w.BlocksPerRow, s3 = w.Scales + (long)r3 * w.BlocksPerRow;
            for (int m = 0; m < g.M; m++)
            {
                float* a = aPerm + (long)m * k32;
                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                for (int t = 0; t < subs; t++)
                {
                    Vector512<float> ae = Vector512.Load(a + t * 32), ao = Vector512.Load(a + t * 32 + 16);
                    int j = t >> subShift;
                    f0 = Sub(table, e0 + t * 16, ae, ao, st[s0[j]], f0);
                    f1 = Sub(table, e1 + t * 16, ae, ao, st[s1[j]], f1);
                    f2 = Sub(table, e2 + t * 16, ae, ao, st[s2[j]], f2);
                    f3 = Sub(table, e3 + t * 16, ae, ao, st[s3[j]], f3);
                }
                float* y = g.Y + (long)m * w.Rows + nt;
                y[0] = Vector512.Sum(f0) + Bias(g, nt);
                if (nc > 1) y[1] = Vector512.Sum(f1) + Bias(g, nt + 1);
                if (nc > 2) y[2] = Vector512.Sum(f2) + Bias(g, nt + 2);
                if (nc > 3) y[3] = Vector512.Sum(f3) + Bias(g, nt + 3);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sub(Vector512<float> table, byte* e, Vector512<float> ae, Vector512<float> ao, float scale, Vector512<float> acc)
    {
        Vector512<int> idx = Avx512F.ConvertToVector512Int32(Vector128.Load(e));
        Vector512<float> d = ae * Avx512F.PermuteVar16x32(table, idx);
        d = Avx512F.FusedMultiplyAdd(ao, Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(idx, 4)), d);
        return Avx512F.FusedMultiplyAdd(d, Vector512.Create(scale), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Bias(in GemmArgs g, int n) => g.Bias == null ? 0f : g.Bias[n];
}
