using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Kernels;

/// <summary>
/// AVX-512 + AVX-VNNI MX×MX kernel for MXINT8 weights (block size 32 or 64), used in place. vpdpbusd needs one
/// unsigned operand: the weight codes XOR 0x80 are <c>w + 128</c> (0..255) and the activation codes stay signed; the
/// <c>128·Σa</c> this adds is a property of the activations (one float per sub-block, computed per call by
/// <see cref="MxMxNibble4Avx512.Prepare"/> in natural order) and is subtracted with one FMA per 16 sub-blocks.
/// .NET 10 has only the 256-bit VNNI form on CPUs without AVX10, so two ymm vpdpbusd (one sub-block each, exact int32)
/// are joined into one zmm for the conversion and the per-lane scale FMA. Four weight rows share each activation load.
/// </summary>
internal static unsafe class MxMxInt8Avx512
{
    public const int NR = RowGroup.Rows;
    private const int Chunk = RowGroup.Chunk;   // MXINT8: one byte per element, so also the chunk's bytes per row

    public static bool IsSupported => MxMxNibble4Avx512.IsSupported && CpuFeatures.Has(IsaFeatures.AvxVnni);

    private static readonly Vector512<int>[] PairIdx = BuildPairIdx();

    private static Vector512<int>[] BuildPairIdx()
    {
        var r = new Vector512<int>[8];
        for (int s = 0; s < 8; s++)
        {
            var v = new int[16];
            for (int l = 0; l < 16; l++) v[l] = 2 * s + l / 8;
            r[s] = Vector512.Create(v);
        }
        return r;
    }

    /// <summary>Y rows [n0, n1) for every prepared activation row (natural-order codes, offset 128).</summary>
    [SkipLocalsInit]
    public static void Run(in GemmArgs g, byte* prep, long prepStride, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int kc = RowGroup.ChunkedK(w.PaddedK), chunks = kc / Chunk;
        bool bs64 = w.BlockSize == 64;
        int chunkScaleBytes = bs64 ? 8 : 16;
        int full = Math.Min(w.RowBytes / Chunk, w.BlocksPerRow / chunkScaleBytes);
        byte* tailE = stackalloc byte[NR * Chunk];
        byte* tailS = stackalloc byte[NR * 16];
        byte** e = stackalloc byte*[NR];
        byte** s = stackalloc byte*[NR];
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            RowGroup.Prepare(w, nt, n1, NR, Chunk, chunkScaleBytes, full, chunks, e, s, tailE, tailS);
            for (int m = 0; m < g.M; m++)
            {
                byte* p = prep + m * prepStride;
                sbyte* codes = (sbyte*)p;
                float* corr = (float*)(p + kc);
                float* sub = corr + kc / 32;
                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                for (int c = 0; c < chunks; c++)
                {
                    RowGroup.ChunkRows(c, full, Chunk, bs64, e, s, tailE, tailS, Vector512.Load(sub + c * 16),
                        out byte* e0, out byte* e1, out byte* e2, out byte* e3, out var v0, out var v1, out var v2, out var v3);
                    Vector512<float> cv = Vector512.Load(corr + c * 16);
                    f0 = Avx512F.FusedMultiplyAdd(v0, cv, f0); f1 = Avx512F.FusedMultiplyAdd(v1, cv, f1);
                    f2 = Avx512F.FusedMultiplyAdd(v2, cv, f2); f3 = Avx512F.FusedMultiplyAdd(v3, cv, f3);
                    sbyte* a = codes + (long)c * Chunk;
                    for (int st = 0; st < 8; st += 2)
                    {
                        Steps(a + st * 64, e0 + st * 64, e1 + st * 64, e2 + st * 64, e3 + st * 64, PairIdx[st], v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                        Steps(a + st * 64 + 64, e0 + st * 64 + 64, e1 + st * 64 + 64, e2 + st * 64 + 64, e3 + st * 64 + 64, PairIdx[st + 1], v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    }
                }
                RowGroup.Store(g, m, nt, nc, f0, f1, f2, f3);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Steps(sbyte* a, byte* e0, byte* e1, byte* e2, byte* e3, Vector512<int> idx,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        ref Vector512<float> f0, ref Vector512<float> f1, ref Vector512<float> f2, ref Vector512<float> f3)
    {
        Vector256<sbyte> a0 = Vector256.Load(a), a1 = Vector256.Load(a + 32);
        f0 = Avx512F.FusedMultiplyAdd(Pair(e0, a0, a1), Avx512F.PermuteVar16x32(v0, idx), f0);
        f1 = Avx512F.FusedMultiplyAdd(Pair(e1, a0, a1), Avx512F.PermuteVar16x32(v1, idx), f1);
        f2 = Avx512F.FusedMultiplyAdd(Pair(e2, a0, a1), Avx512F.PermuteVar16x32(v2, idx), f2);
        f3 = Avx512F.FusedMultiplyAdd(Pair(e3, a0, a1), Avx512F.PermuteVar16x32(v3, idx), f3);
    }

    /// <summary>Two sub-blocks (64 codes): exact int32 Σ (w + 128)·a, 8 lanes each, as 16 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair(byte* e, Vector256<sbyte> a0, Vector256<sbyte> a1)
    {
        Vector256<byte> flip = Vector256.Create((byte)0x80);
        Vector256<int> d0 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(e) ^ flip, a0);
        Vector256<int> d1 = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(e + 32) ^ flip, a1);
        return Avx512F.ConvertToVector512Single(Avx512F.InsertVector256(d0.ToVector512Unsafe(), d1, 1));
    }
}
