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
        float* tmp = stackalloc float[64];
        float* bias = stackalloc float[NR];
        for (int tile = tile0; tile < tile1; tile++)
        {
            int n0 = tile * NR, nc = Math.Min(NR, w.Rows - n0);
            for (int c = 0; c < NR; c++) bias[c] = g.Bias != null && c < nc ? g.Bias[n0 + c] : 0f;
            if (nc < NR) new Span<float>(panel, KC * NR).Clear();   // unused columns: finite zeros, results discarded
            for (int k0 = 0; k0 < w.K; k0 += KC)
            {
                int kc = Math.Min(KC, w.K - k0);
                FillPanel<TD>(g, n0, nc, k0, kc, panel, tmp);
                for (int m0 = 0; m0 < g.M; m0 += MR)
                    Micro6x16(g, panel, k0, kc, m0, Math.Min(MR, g.M - m0), n0, nc, k0 == 0 ? bias : null);
            }
        }
    }

    /// <summary>Decodes weight rows n0..n0+nc, K range [k0, k0+kc) (rounded up to whole blocks), scaled, into panel[k][c].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FillPanel<TD>(in GemmArgs g, int n0, int nc, int k0, int kc, float* panel, float* tmp) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        if (typeof(TD) == typeof(ScalarFallbackDecoder))
        {
            int bs = w.BlockSize;
            for (int c = 0; c < nc; c++)
                for (int j = k0 / bs; j * bs < k0 + kc; j++)
                {
                    ScalarBlockDecoder.DecodeScaled(w, g.Luts.Floats, n0 + c, j, tmp);
                    float* dst = panel + (j * bs - k0) * NR + c;
                    for (int i = 0; i < bs; i++) dst[i * NR] = tmp[i];
                }
            return;
        }
        int subShift = w.BlockSize == 64 ? 1 : 0;
        for (int c = 0; c < nc; c++)
        {
            byte* e = w.Elements + (long)(n0 + c) * w.RowBytes;
            byte* s = w.Scales + (long)(n0 + c) * w.BlocksPerRow;
            for (int t = k0 >> 5; t * 32 < k0 + kc; t++)
            {
                TD.DecodeFloat(e + t * TD.Bytes32, g.Luts, out var f0, out var f1, out var f2, out var f3);
                var sc = Vector256.Create(g.ScaleTable[s[t >> subShift]]);
                Avx.Store(tmp, Avx.Multiply(f0, sc));
                Avx.Store(tmp + 8, Avx.Multiply(f1, sc));
                Avx.Store(tmp + 16, Avx.Multiply(f2, sc));
                Avx.Store(tmp + 24, Avx.Multiply(f3, sc));
                float* dst = panel + (t * 32 - k0) * NR + c;
                for (int i = 0; i < 32; i++) dst[i * NR] = tmp[i];
            }
        }
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
        for (int k = 0; k < kc; k++, p += NR)
        {
            Vector256<float> b0 = Avx.LoadAlignedVector256(p), b1 = Avx.LoadAlignedVector256(p + 8);
            Vector256<float> a = Vector256.Create(a0[k]);
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
