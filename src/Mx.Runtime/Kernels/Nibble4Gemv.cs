using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Weight-only GEMV for 4-bit integer-valued formats (MXFP4, MXINT4), tuned for M = 1: codes become floats with
/// byte shuffles only. Each 4-bit value (×2^IntShift, an integer) is exact in bfloat16, so two pshufb tables give the
/// bf16 high/low bytes, and interleaving with zero words turns bf16 into fp32 — no int→float conversions. The shuffles
/// leave elements in a fixed permuted order; A is permuted once per call into the same order (<see cref="PermuteA"/>).
/// </summary>
internal static unsafe class Nibble4Gemv
{
    /// <summary>
    /// Writes row <paramref name="k"/>-long <paramref name="a"/> into <paramref name="dst"/> (ceil(K/32)·32 floats,
    /// zero-padded) in decode order: in each 32-chunk, vector v lane l holds element 8v + 2l (l &lt; 4) or 8v + 2(l−4) + 1.
    /// </summary>
    public static void PermuteA(float* a, int k, float* dst)
    {
        int k32 = (k + 31) & ~31;
        for (int c = 0; c < k32; c += 32)
            for (int v = 0; v < 4; v++)
                for (int l = 0; l < 8; l++)
                {
                    int e = c + 8 * v + (l < 4 ? 2 * l : 2 * (l - 4) + 1);
                    dst[c + 8 * v + l] = e < k ? a[e] : 0f;
                }
    }

    /// <summary>Y rows [n0, n1) for all M rows of the permuted A (<paramref name="aPerm"/>: [M, ceil(K/32)·32]).</summary>
    public static void Run(in GemmArgs g, float* aPerm, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int k32 = (w.K + 31) & ~31, subs = k32 >> 5, subShift = w.BlockSize == 64 ? 1 : 0;
        for (int n = n0; n < n1; n++)
        {
            byte* e = w.Elements + (long)n * w.RowBytes;
            byte* s = w.Scales + (long)n * w.BlocksPerRow;
            for (int r = 0; r < g.M; r++)
            {
                float* a = aPerm + (long)r * k32;
                Vector256<float> acc0 = default, acc1 = default;
                int t = 0;
                for (; t + 1 < subs; t += 2)
                {
                    acc0 = Step(g, e + t * 16, a + t * 32, g.ScaleTable[s[t >> subShift]], acc0);
                    acc1 = Step(g, e + (t + 1) * 16, a + (t + 1) * 32, g.ScaleTable[s[(t + 1) >> subShift]], acc1);
                }
                if (t < subs) acc0 = Step(g, e + t * 16, a + t * 32, g.ScaleTable[s[t >> subShift]], acc0);
                g.Y[(long)r * w.Rows + n] = Simd.HorizontalSum(Avx.Add(acc0, acc1)) + (g.Bias == null ? 0f : g.Bias[n]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(in GemmArgs g, byte* p, float* a, float scale, Vector256<float> acc)
    {
        // Low lane: the 16 low nibbles (even elements); high lane: the 16 high nibbles (odd elements).
        Vector256<ulong> x = Avx2.BroadcastVector128ToVector256((ulong*)p);
        x = Avx2.ShiftRightLogicalVariable(x, Vector256.Create(0ul, 0ul, 4ul, 4ul));
        Vector256<byte> codes = Avx2.And(x.AsByte(), Vector256.Create((byte)0x0F));
        Vector256<byte> hi = Avx2.Shuffle(g.Luts.Bf16Hi, codes), lo = Avx2.Shuffle(g.Luts.Bf16Lo, codes);
        Vector256<ushort> b0 = Avx2.UnpackLow(lo, hi).AsUInt16(), b1 = Avx2.UnpackHigh(lo, hi).AsUInt16();
        Vector256<ushort> z = Vector256<ushort>.Zero;
        var d = Avx.Multiply(Avx.LoadVector256(a), Avx2.UnpackLow(z, b0).AsSingle());
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 8), Avx2.UnpackHigh(z, b0).AsSingle(), d);
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 16), Avx2.UnpackLow(z, b1).AsSingle(), d);
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 24), Avx2.UnpackHigh(z, b1).AsSingle(), d);
        return Fma.MultiplyAdd(d, Vector256.Create(scale), acc);
    }
}
