using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Kernels;

/// <summary>
/// AVX-512 weight-only GEMM for larger M: a tile of <see cref="NR"/> = 32 weight rows × <see cref="KC"/> of K is
/// decoded once into an fp32 panel (k-major, 32 floats per k, the AVX2 decoders and 8×8 transposes of
/// <see cref="WeightOnlyTiled"/>), and a 12 × 32 register micro-kernel (24 zmm accumulators, two panel loads and 12
/// broadcasts per k; 8 × 32 when M ≤ 16) runs every group of 12 (8) rows of A over it. A is packed once per call into
/// [M/mr][K][mr] (rows past M are zeros, their results dropped), so the micro-kernel reads one sequential stream for A.
/// </summary>
internal static unsafe class WeightOnlyTiledAvx512
{
    public const int NR = 32;
    public const int MR = 12;
    /// <summary>Rows of A per micro-kernel call when M ≤ 16 (12-row groups would waste up to a third of the FMAs there).</summary>
    public const int MRSmall = 8;

    /// <summary>The row-group height used for <paramref name="m"/> rows of A.</summary>
    public static int RowGroup(int m) => m <= 16 ? MRSmall : MR;
    /// <summary>K per panel: 128 × 32 floats = 16 KiB; with 12 × 128 floats of A, well inside L1d.</summary>
    public const int KC = 128;

    public static bool IsSupported => CpuFeatures.Has(IsaFeatures.Avx512);

    /// <summary>Floats of packed A for <paramref name="m"/> rows of <paramref name="k"/>.</summary>
    public static long PackedALength(int m, int k)
    {
        int mr = RowGroup(m);
        return (long)((m + mr - 1) / mr) * mr * k;
    }

    /// <summary>Packs row group <paramref name="mb"/> (rows mb·mr .. +mr, mr = <see cref="RowGroup"/>) of A into apack[mb][k][mr].</summary>
    public static void PackA(float* a, int m, int k, int mb, float* apack)
    {
        int mr = RowGroup(m);
        float* dst = apack + (long)mb * mr * k;
        int r0 = mb * mr, rows = Math.Min(mr, m - r0);
        for (int r = 0; r < mr; r++)
        {
            if (r >= rows)
            {
                for (int i = 0; i < k; i++) dst[(long)i * mr + r] = 0f;
                continue;
            }
            float* src = a + (long)(r0 + r) * k;
            for (int i = 0; i < k; i++) dst[(long)i * mr + r] = src[i];
        }
    }

    [SkipLocalsInit]
    public static void Run<TD>(in GemmArgs g, float* apack, int tile0, int tile1) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        float* panelRaw = stackalloc float[KC * NR + 16];
        float* panel = (float*)(((nint)panelRaw + 63) & ~(nint)63);
        float* tmp = stackalloc float[8 * 32];
        float* bias = stackalloc float[NR];
        int mr = RowGroup(g.M), mBlocks = (g.M + mr - 1) / mr;
        for (int tile = tile0; tile < tile1; tile++)
        {
            int n0 = tile * NR, nc = Math.Min(NR, w.Rows - n0);
            for (int c = 0; c < NR; c++) bias[c] = g.Bias != null && c < nc ? g.Bias[n0 + c] : 0f;
            if (nc < NR) new Span<float>(panel, KC * NR).Clear();   // unused columns: finite zeros, results discarded
            for (int k0 = 0; k0 < w.K; k0 += KC)
            {
                int kc = Math.Min(KC, w.K - k0);
                WeightOnlyTiled.FillPanel<TD>(g, n0, nc, k0, kc, panel, NR, tmp);
                for (int mb = 0; mb < mBlocks; mb++)
                {
                    float* ap = apack + (long)mb * mr * w.K + (long)k0 * mr;
                    if (mr == MR) Micro12x32(g, panel, ap, kc, mb * MR, Math.Min(MR, g.M - mb * MR), n0, nc, k0 == 0 ? bias : null);
                    else Micro8x32(g, panel, ap, kc, mb * MRSmall, Math.Min(MRSmall, g.M - mb * MRSmall), n0, nc, k0 == 0 ? bias : null);
                }
            }
        }
    }

    // Micro8x32 and Micro12x32 are written out on purpose: one named zmm accumulator per (row, half), so the JIT keeps
    // all 16 / 24 in registers; a shared generic or loop-based form would spill them.
    [SkipLocalsInit]
    private static void Micro8x32(in GemmArgs g, float* panel, float* ap, int kc, int m0, int rows, int n0, int nc, float* firstBias)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
                         c60 = default, c61 = default, c70 = default, c71 = default;
        float* p = panel;
        for (nint k = 0; k < kc; k++, p += NR, ap += MRSmall)
        {
            Vector512<float> b0 = Vector512.LoadAligned(p), b1 = Vector512.LoadAligned(p + 16), a;
            a = Vector512.Create(ap[0]); c00 = Avx512F.FusedMultiplyAdd(a, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(ap[1]); c10 = Avx512F.FusedMultiplyAdd(a, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(ap[2]); c20 = Avx512F.FusedMultiplyAdd(a, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(ap[3]); c30 = Avx512F.FusedMultiplyAdd(a, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(ap[4]); c40 = Avx512F.FusedMultiplyAdd(a, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(ap[5]); c50 = Avx512F.FusedMultiplyAdd(a, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(ap[6]); c60 = Avx512F.FusedMultiplyAdd(a, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(ap[7]); c70 = Avx512F.FusedMultiplyAdd(a, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a, b1, c71);
        }
        float* t = stackalloc float[MRSmall * NR];
        c00.Store(t); c01.Store(t + 16); c10.Store(t + 32); c11.Store(t + 48); c20.Store(t + 64); c21.Store(t + 80);
        c30.Store(t + 96); c31.Store(t + 112); c40.Store(t + 128); c41.Store(t + 144); c50.Store(t + 160); c51.Store(t + 176);
        c60.Store(t + 192); c61.Store(t + 208); c70.Store(t + 224); c71.Store(t + 240);
        StoreTile(g, t, m0, rows, n0, nc, firstBias);
    }

    [SkipLocalsInit]
    private static void Micro12x32(in GemmArgs g, float* panel, float* ap, int kc, int m0, int rows, int n0, int nc, float* firstBias)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
                         c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default,
                         c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        float* p = panel;
        for (nint k = 0; k < kc; k++, p += NR, ap += MR)
        {
            Vector512<float> b0 = Vector512.LoadAligned(p), b1 = Vector512.LoadAligned(p + 16), a;
            a = Vector512.Create(ap[0]); c00 = Avx512F.FusedMultiplyAdd(a, b0, c00); c01 = Avx512F.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(ap[1]); c10 = Avx512F.FusedMultiplyAdd(a, b0, c10); c11 = Avx512F.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(ap[2]); c20 = Avx512F.FusedMultiplyAdd(a, b0, c20); c21 = Avx512F.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(ap[3]); c30 = Avx512F.FusedMultiplyAdd(a, b0, c30); c31 = Avx512F.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(ap[4]); c40 = Avx512F.FusedMultiplyAdd(a, b0, c40); c41 = Avx512F.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(ap[5]); c50 = Avx512F.FusedMultiplyAdd(a, b0, c50); c51 = Avx512F.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(ap[6]); c60 = Avx512F.FusedMultiplyAdd(a, b0, c60); c61 = Avx512F.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(ap[7]); c70 = Avx512F.FusedMultiplyAdd(a, b0, c70); c71 = Avx512F.FusedMultiplyAdd(a, b1, c71);
            a = Vector512.Create(ap[8]); c80 = Avx512F.FusedMultiplyAdd(a, b0, c80); c81 = Avx512F.FusedMultiplyAdd(a, b1, c81);
            a = Vector512.Create(ap[9]); c90 = Avx512F.FusedMultiplyAdd(a, b0, c90); c91 = Avx512F.FusedMultiplyAdd(a, b1, c91);
            a = Vector512.Create(ap[10]); ca0 = Avx512F.FusedMultiplyAdd(a, b0, ca0); ca1 = Avx512F.FusedMultiplyAdd(a, b1, ca1);
            a = Vector512.Create(ap[11]); cb0 = Avx512F.FusedMultiplyAdd(a, b0, cb0); cb1 = Avx512F.FusedMultiplyAdd(a, b1, cb1);
        }
        // Spill to the stack before any call (all vector registers are caller-saved).
        float* t = stackalloc float[MR * NR];
        c00.Store(t); c01.Store(t + 16); c10.Store(t + 32); c11.Store(t + 48); c20.Store(t + 64); c21.Store(t + 80);
        c30.Store(t + 96); c31.Store(t + 112); c40.Store(t + 128); c41.Store(t + 144); c50.Store(t + 160); c51.Store(t + 176);
        c60.Store(t + 192); c61.Store(t + 208); c70.Store(t + 224); c71.Store(t + 240); c80.Store(t + 256); c81.Store(t + 272);
        c90.Store(t + 288); c91.Store(t + 304); ca0.Store(t + 320); ca1.Store(t + 336); cb0.Store(t + 352); cb1.Store(t + 368);
        StoreTile(g, t, m0, rows, n0, nc, firstBias);
    }

    private static void StoreTile(in GemmArgs g, float* t, int m0, int rows, int n0, int nc, float* firstBias)
    {
        long ldy = g.W.Rows;
        float* y = g.Y + m0 * ldy + n0;
        for (int r = 0; r < rows; r++, y += ldy, t += NR)
        {
            if (nc == NR)
            {
                Vector512<float> v0 = Vector512.Load(t), v1 = Vector512.Load(t + 16);
                if (firstBias != null) { v0 += Vector512.Load(firstBias); v1 += Vector512.Load(firstBias + 16); }
                else { v0 += Vector512.Load(y); v1 += Vector512.Load(y + 16); }
                v0.Store(y); v1.Store(y + 16);
            }
            else if (firstBias != null)
                for (int c = 0; c < nc; c++) y[c] = t[c] + firstBias[c];
            else
                for (int c = 0; c < nc; c++) y[c] += t[c];
        }
    }
}
