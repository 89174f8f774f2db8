using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Weight-only GEMV for small M: each weight row is streamed once from memory and decoded in registers, one 32-element
/// sub-block at a time (decode → 4 FMAs against A → one FMA by the block scale). Memory-bound by design: the weight
/// bytes are the only traffic that grows with N·K; A stays in L1.
/// </summary>
internal static unsafe class WeightOnlyGemv
{
    /// <summary>Max rows of A this path takes (it re-decodes the weights per row of A; larger M goes to the tiled path).</summary>
    public const int MaxM = 3;

    [SkipLocalsInit]
    public static void Run<TD>(in GemmArgs g, int n0, int n1) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        bool scalar = typeof(TD) == typeof(ScalarFallbackDecoder);
        int unit = scalar ? w.BlockSize : 32;
        int tailStart = w.K - w.K % unit;
        // The last (partial) unit of each A row, zero-padded: padding weights decode to 0, but A past K may not be
        // readable, and 0 · garbage could be NaN.
        float* tails = stackalloc float[MaxM * 64];
        for (int r = 0; r < g.M; r++)
        {
            float* t = tails + r * 64;
            new Span<float>(t, 64).Clear();
            for (int k = tailStart; k < w.K; k++) t[k - tailStart] = g.A[(long)r * w.K + k];
        }
        float* buf = stackalloc float[64];
        for (int n = n0; n < n1; n++)
            for (int r = 0; r < g.M; r++)
            {
                float* ar = g.A + (long)r * w.K;
                float dot = scalar ? DotScalarDecode(g, ar, tails + r * 64, n, buf) : Dot<TD>(g, ar, tails + r * 64, n);
                g.Y[(long)r * w.Rows + n] = dot + (g.Bias == null ? 0f : g.Bias[n]);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TD>(in GemmArgs g, float* ar, float* tail, int n) where TD : struct, IBlock32Decoder
    {
        MxPackedWeight w = g.W;
        byte* e = w.Elements + (long)n * w.RowBytes;
        byte* s = w.Scales + (long)n * w.BlocksPerRow;
        float* scaleTable = g.ScaleTable;
        int subShift = w.BlockSize == 64 ? 1 : 0;
        int full = w.K >> 5;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int t = 0;
        // Two sub-blocks per iteration into two accumulators: keeps two independent FMA chains in flight.
        for (; t + 1 < full; t += 2)
        {
            acc0 = Step<TD>(g, e + t * TD.Bytes32, ar + t * 32, scaleTable[s[t >> subShift]], acc0);
            acc1 = Step<TD>(g, e + (t + 1) * TD.Bytes32, ar + (t + 1) * 32, scaleTable[s[(t + 1) >> subShift]], acc1);
        }
        if (t < full) { acc0 = Step<TD>(g, e + t * TD.Bytes32, ar + t * 32, scaleTable[s[t >> subShift]], acc0); t++; }
        if ((w.K & 31) != 0) acc1 = Step<TD>(g, e + t * TD.Bytes32, tail, scaleTable[s[t >> subShift]], acc1);
        return Simd.HorizontalSum(Avx.Add(acc0, acc1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step<TD>(in GemmArgs g, byte* p, float* a, float scale, Vector256<float> acc) where TD : struct, IBlock32Decoder
    {
        TD.DecodeFloat(p, g.Luts, out var w0, out var w1, out var w2, out var w3);
        var d = Avx.Multiply(Avx.LoadVector256(a), w0);
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 8), w1, d);
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 16), w2, d);
        d = Fma.MultiplyAdd(Avx.LoadVector256(a + 24), w3, d);
        return Fma.MultiplyAdd(d, Vector256.Create(scale), acc);
    }

    /// <summary>Any layout: decode each block with the scalar decoder into <paramref name="buf"/>, then FMA it against A.</summary>
    private static float DotScalarDecode(in GemmArgs g, float* ar, float* tail, int n, float* buf)
    {
        MxPackedWeight w = g.W;
        float* table = g.Luts.Floats;
        var acc = Vector256<float>.Zero;
        int bs = w.BlockSize;
        for (int j = 0; j < w.BlocksPerRow; j++)
        {
            int k0 = j * bs;
            float* a = k0 + bs <= w.K ? ar + k0 : tail;
            ScalarBlockDecoder.DecodeScaled(w, table, n, j, buf);
            for (int i = 0; i < bs; i += 8)
                acc = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(buf + i), acc);
        }
        return Simd.HorizontalSum(acc);
    }
}
