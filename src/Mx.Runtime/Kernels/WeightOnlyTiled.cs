using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Weight-only GEMM for larger M, blocked like an sgemm: a tile of <see cref="NR"/> weight rows × <see cref="KC"/> of K
/// is decoded once into an L1-resident fp32 panel (k-major, 16 floats per k), then a 6 × 16 register micro-kernel
/// (12 ymm accumulators) runs every group of 6 rows of A over it. Decoding cost is spread over all M rows, so for large
/// M the speed is that of the FMA micro-kernel.
/// </summary>
internal static unsafe class WeightOnlyTiled
{
    /// <summary>Panel width: output columns per tile (two ymm registers).</summary>
    public const int NR = 16;
    /// <summary>Rows of A per micro-kernel call.</summary>
    public const int MR = 6;
    /// <summary>K per panel: 256 × 16 floats = 16 KiB, half of L1d. A multiple of every block size (≤ 64).</summary>
    public const int KC = 256;

    [SkipLocalsInit]
    public static void Run<TD>(in GemmArgs g, int tile0, int tile1) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        float* panelRaw = stackalloc float[KC * NR + 8];
        float* panel = (float*)(((nint)panelRaw + 31) & ~(nint)31);
        float* tmp = stackalloc float[8 * 32];
        float* bias = stackalloc float[NR];
        for (int tile = tile0; tile < tile1; tile++)
        {
            int n0 = tile * NR, nc = Math.Min(NR, w.Rows - n0);
            for (int c = 0; c < NR; c++) bias[c] = g.Bias != null && c < nc ? g.Bias[n0 + c] : 0f;
            if (nc < NR) new Span<float>(panel, KC * NR).Clear();   // unused columns: finite zeros, results discarded
            for (int k0 = 0; k0 < w.K; k0 += KC)
            {
                int kc = Math.Min(KC, w.K - k0);
                FillPanel<TD>(g, n0, nc, k0, kc, panel, NR, tmp);
                for (int m0 = 0; m0 < g.M; m0 += MR)
                    Micro6x16(g, panel, k0, kc, m0, Math.Min(MR, g.M - m0), n0, nc, k0 == 0 ? bias : null);
            }
        }
    }

    /// <summary>Decodes weight rows n0..n0+nc, K range [k0, k0+kc) (rounded up to whole blocks), scaled, into panel[k][c].</summary>
    [SkipLocalsInit]
    internal static void FillPanel<TD>(in GemmArgs g, int n0, int nc, int k0, int kc, float* panel, int stride, float* tmp) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        if (typeof(TD) == typeof(ScalarFallbackDecoder))
        {
            int bs = w.BlockSize;
            for (int c = 0; c < nc; c++)
                for (int j = k0 / bs; j * bs < k0 + kc; j++)
                {
                    ScalarBlockDecoder.DecodeScaled(w, g.Luts.Floats, n0 + c, j, tmp);
                    float* dst = panel + (j * bs - k0) * stride + c;
                    for (int i = 0; i < bs; i++) dst[i * stride] = tmp[i];
                }
            return;
        }
        // Eight columns at a time: decode each column's 32-element sub-block into tmp (row-major, 8 × 32), then
        // transpose 8 × 8 squares in registers so the panel is written with whole-vector stores, not 32 scalar ones.
        int subShift = w.BlockSize == 64 ? 1 : 0;
        byte** e = stackalloc byte*[8];
        byte** s = stackalloc byte*[8];
        for (int c0 = 0; c0 < nc; c0 += 8)
        {
            for (int c = 0; c < 8; c++)
            {
                int n = n0 + Math.Min(c0 + c, nc - 1);   // past the last row: repeat it (those panel columns are never stored)
                e[c] = w.Elements + (long)n * w.RowBytes;
                s[c] = w.Scales + (long)n * w.BlocksPerRow;
            }
            for (int t = k0 >> 5; t * 32 < k0 + kc; t++)
            {
                for (int c = 0; c < 8; c++)
                {
                    TD.DecodeFloat(e[c] + t * TD.Bytes32, g.Luts, out var f0, out var f1, out var f2, out var f3);
                    var sc = Vector256.Create(g.ScaleTable[s[c][t >> subShift]]);
                    float* d = tmp + c * 32;
                    Avx.Store(d, Avx.Multiply(f0, sc));
                    Avx.Store(d + 8, Avx.Multiply(f1, sc));
                    Avx.Store(d + 16, Avx.Multiply(f2, sc));
                    Avx.Store(d + 24, Avx.Multiply(f3, sc));
                }
                for (int q = 0; q < 4; q++)
                    Transpose8x8Store(tmp + q * 8, 32, panel + (t * 32 - k0 + q * 8) * stride + c0, stride);
            }
        }
    }

    /// <summary>dst[i · dstStride + j] = src[j · srcStride + i] for an 8 × 8 square of floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8Store(float* src, int srcStride, float* dst, int dstStride)
    {
        Vector256<float> r0 = Avx.LoadVector256(src), r1 = Avx.LoadVector256(src + srcStride),
            r2 = Avx.LoadVector256(src + 2 * srcStride), r3 = Avx.LoadVector256(src + 3 * srcStride),
            r4 = Avx.LoadVector256(src + 4 * srcStride), r5 = Avx.LoadVector256(src + 5 * srcStride),
            r6 = Avx.LoadVector256(src + 6 * srcStride), r7 = Avx.LoadVector256(src + 7 * srcStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3),
            t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE),
            u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// C[m0..m0+rows, n0..n0+nc] (+)= A[m0.., k0..k0+kc] · panel. Fewer than 6 rows: the missing row pointers repeat the
    /// last row and their results are dropped, so one fixed-shape kernel serves every M.
    /// <paramref name="firstBias"/> non-null on the first K panel: results are stored (plus bias) instead of added.
    /// </summary>
    [SkipLocalsInit]
    private static void Micro6x16(in GemmArgs g, float* panel, int k0, int kc, int m0, int rows, int n0, int nc, float* firstBias)
    {
        long K = g.W.K;
        float* a0 = g.A + (m0 + 0) * K + k0;
        float* a1 = g.A + (m0 + Math.Min(1, rows - 1)) * K + k0;
        float* a2 = g.A + (m0 + Math.Min(2, rows - 1)) * K + k0;
        float* a3 = g.A + (m0 + Math.Min(3, rows - 1)) * K + k0;
        float* a4 = g.A + (m0 + Math.Min(4, rows - 1)) * K + k0;
        float* a5 = g.A + (m0 + Math.Min(5, rows - 1)) * K + k0;
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* p = panel;
        Vector256<float> a, b0, b1;
        nint k = 0;
        // Unrolled by two with a native-int index: halves the loop overhead next to 12 FMAs + 6 broadcasts per k. The
        // repetition (and the odd-k tail below) is the optimization: 12 named accumulators stay in registers.
        for (; k + 1 < kc; k += 2, p += 2 * NR)
        {
            b0 = Avx.LoadAlignedVector256(p + 0); b1 = Avx.LoadAlignedVector256(p + 0 + 8);
            a = Vector256.Create(a0[k]);
            c00 = Fma.MultiplyAdd(a, b0, c00); c01 = Fma.MultiplyAdd(a, b1, c01);
            a = Vector256.Create(a1[k]);
            c10 = Fma.MultiplyAdd(a, b0, c10); c11 = Fma.MultiplyAdd(a, b1, c11);
            a = Vector256.Create(a2[k]);
            c20 = Fma.MultiplyAdd(a, b0, c20); c21 = Fma.MultiplyAdd(a, b1, c21);
            a = Vector256.Create(a3[k]);
            c30 = Fma.MultiplyAdd(a, b0, c30); c31 = Fma.MultiplyAdd(a, b1, c31);
            a = Vector256.Create(a4[k]);
            c40 = Fma.MultiplyAdd(a, b0, c40); c41 = Fma.MultiplyAdd(a, b1, c41);
            a = Vector256.Create(a5[k]);
            c50 = Fma.MultiplyAdd(a, b0, c50); c51 = Fma.MultiplyAdd(a, b1, c51);
            b0 = Avx.LoadAlignedVector256(p + NR); b1 = Avx.LoadAlignedVector256(p + NR + 8);
            a = Vector256.Create(a0[k + 1]);
            c00 = Fma.MultiplyAdd(a, b0, c00); c01 = Fma.MultiplyAdd(a, b1, c01);
            a = Vector256.Create(a1[k + 1]);
            c10 = Fma.MultiplyAdd(a, b0, c10); c11 = Fma.MultiplyAdd(a, b1, c11);
            a = Vector256.Create(a2[k + 1]);
            c20 = Fma.MultiplyAdd(a, b0, c20); c21 = Fma.MultiplyAdd(a, b1, c21);
            a = Vector256.Create(a3[k + 1]);
            c30 = Fma.MultiplyAdd(a, b0, c30); c31 = Fma.MultiplyAdd(a, b1, c31);
            a = Vector256.Create(a4[k + 1]);
            c40 = Fma.MultiplyAdd(a, b0, c40); c41 = Fma.MultiplyAdd(a, b1, c41);
            a = Vector256.Create(a5[k + 1]);
            c50 = Fma.MultiplyAdd(a, b0, c50); c51 = Fma.MultiplyAdd(a, b1, c51);
        }
        if (k < kc)
        {
            b0 = Avx.LoadAlignedVector256(p); b1 = Avx.LoadAlignedVector256(p+ 8);
            a = Vector256.Create(a0[k]);
            c00 = Fma.MultiplyAdd(a, b0, c00); c01 = Fma.MultiplyAdd(a, b1, c01);
            a = Vector256.Create(a1[k]);
            c10 = Fma.MultiplyAdd(a, b0, c10); c11 = Fma.MultiplyAdd(a, b1, c11);
            a = Vector256.Create(a2[k]);
            c20 = Fma.MultiplyAdd(a, b0, c20); c21 = Fma.MultiplyAdd(a, b1, c21);
            a = Vector256.Create(a3[k]);
            c30 = Fma.MultiplyAdd(a, b0, c30); c31 = Fma.MultiplyAdd(a, b1, c31);
            a = Vector256.Create(a4[k]);
            c40 = Fma.MultiplyAdd(a, b0, c40); c41 = Fma.MultiplyAdd(a, b1, c41);
            a = Vector256.Create(a5[k]);
            c50 = Fma.MultiplyAdd(a, b0, c50); c51 = Fma.MultiplyAdd(a, b1, c51);
        }
        // Spill the tile to the stack first: every ymm register is caller-saved, so any call made while the
        // accumulators are live makes the JIT keep them in memory inside the hot loop.
        float* t = stackalloc float[MR * NR];
        Avx.Store(t, c00); Avx.Store(t + 8, c01); Avx.Store(t + 16, c10); Avx.Store(t + 24, c11);
        Avx.Store(t + 32, c20); Avx.Store(t + 40, c21); Avx.Store(t + 48, c30); Avx.Store(t + 56, c31);
        Avx.Store(t + 64, c40); Avx.Store(t + 72, c41); Avx.Store(t + 80, c50); Avx.Store(t + 88, c51);
        long ldy = g.W.Rows;
        float* y = g.Y + m0 * ldy + n0;
        for (int r = 0; r < rows; r++, y += ldy, t += NR)
        {
            if (firstBias != null)
                for (int c = 0; c < nc; c++) y[c] = t[c] + firstBias[c];
            else
                for (int c = 0; c < nc; c++) y[c] += t[c];
        }
    }
}
