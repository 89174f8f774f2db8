using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// MX×MX GEMM: activations already quantized to MXINT8 ([M, Kp] int8 codes, [M, nb] E8M0 bytes), weights of a format
/// whose values are int8 after a power-of-two shift (MXFP4 ×2, MXINT4 ×4, MXFP6 E2M3 ×8, MXINT8 ×64).
/// Per block pair the dot product is exact in int32 (AVX2 sign trick: maddubs(|w|, sign(a, w)) then madd with ones);
/// it is converted to float once per block and accumulated as X_a · X_w · 2^(−6−s) · Σ P_a P_w with one FMA.
/// Weight rows are decoded to int8 once per group of 4 rows into scratch and reused for every row of A.
/// </summary>
internal static unsafe class MxMxGemm
{
    /// <summary>Weight rows per group (4 accumulators; the A block is loaded once for all four).</summary>
    public const int NR = 4;

    /// <summary>Up to this many rows of A, weights are decoded inline instead of into scratch.</summary>
    public const int InlineMaxM = 3;

    [SkipLocalsInit]
    public static void Run<TD>(in GemmArgs g, sbyte* codes, float* actScale, int n0, int n1, sbyte* scratch)
        where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        int kp = w.PaddedK, nb = w.BlocksPerRow, subs = w.BlockSize / 32;
        sbyte** wr = stackalloc sbyte*[NR];
        byte** ws = stackalloc byte*[NR];
        byte** we = stackalloc byte*[NR];
        // Few rows of A: decode the weights in registers where they are used (GEMV-like, no scratch round trip);
        // many rows: decode once into scratch and reuse the int8 rows for every row of A.
        bool inline = typeof(TD) != typeof(Int8Decoder) && g.M <= InlineMaxM;
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            for (int i = 0; i < NR; i++)
            {
                int n = nt + Math.Min(i, nc - 1);   // short group: repeat the last row, drop its results
                ws[i] = w.Scales + (long)n * nb;
                byte* e = w.Elements + (long)n * w.RowBytes;
                if (typeof(TD) == typeof(Int8Decoder)) { wr[i] = (sbyte*)e; continue; }   // codes are the int8 values already
                if (inline) { we[i] = e; continue; }
                sbyte* dst = scratch + i * kp;
                for (int t = 0; t < kp / 32; t++)
                    Avx.Store(dst + t * 32, TD.DecodeInt8Dot(e + t * TD.Bytes32, g.Luts));
                wr[i] = dst;
            }
            for (int m = 0; m < g.M; m++)
            {
                sbyte* a = codes + (long)m * kp;
                float* xa = actScale + (long)m * nb;
                Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
                for (int j = 0; j < nb; j++)
                {
                    Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
                    for (int u = 0; u < subs; u++)
                    {
                        int k = (j * subs + u) * 32;
                        Vector256<sbyte> av = Avx.LoadVector256(a + k);
                        if (inline)
                        {
                            int off = (j * subs + u) * TD.Bytes32;
                            s0 = Avx2.Add(s0, DotI8(av, TD.DecodeInt8Dot(we[0] + off, g.Luts)));
                            s1 = Avx2.Add(s1, DotI8(av, TD.DecodeInt8Dot(we[1] + off, g.Luts)));
                            s2 = Avx2.Add(s2, DotI8(av, TD.DecodeInt8Dot(we[2] + off, g.Luts)));
                            s3 = Avx2.Add(s3, DotI8(av, TD.DecodeInt8Dot(we[3] + off, g.Luts)));
                        }
                        else
                        {
                            s0 = Avx2.Add(s0, DotI8(av, Avx.LoadVector256(wr[0] + k)));
                            s1 = Avx2.Add(s1, DotI8(av, Avx.LoadVector256(wr[1] + k)));
                            s2 = Avx2.Add(s2, DotI8(av, Avx.LoadVector256(wr[2] + k)));
                            s3 = Avx2.Add(s3, DotI8(av, Avx.LoadVector256(wr[3] + k)));
                        }
                    }
                    float x = xa[j];
                    acc0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s0), Vector256.Create(x * g.ScaleTable[ws[0][j]]), acc0);
                    acc1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s1), Vector256.Create(x * g.ScaleTable[ws[1][j]]), acc1);
                    acc2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s2), Vector256.Create(x * g.ScaleTable[ws[2][j]]), acc2);
                    acc3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(s3), Vector256.Create(x * g.ScaleTable[ws[3][j]]), acc3);
                }
                float* y = g.Y + (long)m * w.Rows + nt;
                y[0] = Simd.HorizontalSum(acc0) + Bias(g, nt);
                if (nc > 1) y[1] = Simd.HorizontalSum(acc1) + Bias(g, nt + 1);
                if (nc > 2) y[2] = Simd.HorizontalSum(acc2) + Bias(g, nt + 2);
                if (nc > 3) y[3] = Simd.HorizontalSum(acc3) + Bias(g, nt + 3);
            }
        }
    }

    /// <summary>
    /// 8 int32 partial sums of a·w over 32 int8 pairs. maddubs needs one unsigned operand: |w| (≤ 128) times a with w's
    /// sign moved onto it; pair sums stay within ±2·128·127 &lt; 2^15, so the int16 stage cannot saturate
    /// (activation codes are never −128).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotI8(Vector256<sbyte> a, Vector256<sbyte> w)
    {
        Vector256<short> p = Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(a, w));
        return Avx2.MultiplyAddAdjacent(p, Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Bias(in GemmArgs g, int n) => g.Bias == null ? 0f : g.Bias[n];
}
