using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Kernels;

/// <summary>
/// AVX-512 MX×MX kernel for 4-bit integer-valued weights (MXFP4 ×2, MXINT4 ×4), block size 32 or 64.
/// <para>
/// Weights: one 64-byte load holds 128 elements of 4 consecutive 32-element sub-blocks; the low nibbles (even
/// elements) and high nibbles (odd elements) are looked up with vpshufb in a table of <c>value·2^s + Offset</c>, which
/// is unsigned (0..24 for MXFP4), so vpmaddubsw can take the weights as its unsigned operand and the activation codes
/// as its signed one, and no sign shuffling is needed. The offset contributes <c>Offset·Σa</c> per 4-byte group; that
/// is a property of the activations alone, computed once per call (<see cref="Prepare"/>) as a float per sub-block
/// and subtracted with one FMA per 16 sub-blocks (the block dot products are exact int32; the correction is an exact
/// integer times the same scale, so only fp32 accumulation rounding differs from the reference). (.NET 10 exposes no 512-bit VNNI on CPUs without AVX10, hence
/// maddubs + madd: the same two ops per 64 pairs as two 256-bit vpdpbusd.)
/// </para>
/// <para>
/// Activations per call, per row: codes in "step" order (for each 128 elements: 64 bytes of even elements then 64 of
/// odd, 128-bit lane q = sub-block q), the offset correction per sub-block (−Offset·Σa, float), and the per-sub-block activation scale
/// (E8M0 · 2^(−6−s)), padded to whole chunks of 512 elements with zeros.
/// Per row and step the 16 int32 lanes (4 per sub-block) are converted once and accumulated with one FMA by the
/// per-lane scale (weight scale from the E8M0 bits, times the activation scale; NaN bytes give NaN).
/// </para>
/// </summary>
internal static unsafe class MxMxNibble4Avx512
{
    public const int NR = RowGroup.Rows;
    private const int Step = 128;             // elements per step (64 weight bytes)
    private const int Chunk = RowGroup.Chunk; // 4 steps

    public static bool IsSupported => CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi);

    /// <summary>Padded K (multiple of 512) of the prepared activations.</summary>
    public static int ChunkedK(int paddedK) => RowGroup.ChunkedK(paddedK);

    /// <summary>Bytes of per-row prepared activation data: codes, int32 corrections, float sub-block scales.</summary>
    public static long RowBytes(int paddedK)
    {
        int kc = ChunkedK(paddedK);
        return kc + (kc / 32) * 8L;
    }

    /// <summary>
    /// Quantizes one row of A (MXINT8, bit-identical to <see cref="ActivationQuantizer.QuantizeRow"/>) and lays it out
    /// for the kernel at <paramref name="dst"/> (<see cref="RowBytes"/> bytes, 64-byte aligned). <paramref name="tmpCodes"/>/<paramref name="tmpScales"/>:
    /// ChunkedK bytes + nb scale bytes of scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Prepare(float* a, int k, int blockSize, int intShift, int offset, byte* dst, sbyte* tmpCodes, byte* tmpScales, bool stepOrder = true)
    {
        int nb = (k + blockSize - 1) / blockSize, kp = nb * blockSize, kc = ChunkedK(kp);
        int steps = kc / Step;
        ActivationQuantizer.QuantizeRowFast(a, k, blockSize, tmpCodes, tmpScales);
        new Span<sbyte>(tmpCodes + kp, kc - kp).Clear();
        sbyte* codes = (sbyte*)dst;
        float* corr = (float*)(dst + kc);
        float* sub = corr + kc / 32;
        Vector512<byte> idxE = EvenIndex, idxO = Vector512.Add(idxE, Vector512.Create((byte)1));
        if (!stepOrder) Buffer.MemoryCopy(tmpCodes, codes, kc, kc);
        for (int t = 0; t < (stepOrder ? steps : 0); t++)
        {
            Vector512<byte> s0 = Vector512.Load((byte*)tmpCodes + t * Step), s1 = Vector512.Load((byte*)tmpCodes + t * Step + 64);
            Avx512Vbmi.PermuteVar64x8x2(s0, idxE, s1).Store((byte*)codes + t * Step);
            Avx512Vbmi.PermuteVar64x8x2(s0, idxO, s1).Store((byte*)codes + t * Step + 64);
        }
        float unit = (float)Math.ScaleB(1.0, -6 - intShift);
        int subPerBlock = blockSize / 32;
        for (int u = 0; u < kc / 32; u++)
        {
            int j = u / subPerBlock;
            // Σ of 32 signed codes: psadbw over the codes biased to unsigned, minus the bias.
            Vector256<ulong> sad = Avx2.SumAbsoluteDifferences(Vector256.Load((byte*)tmpCodes + u * 32) ^ Vector256.Create((byte)0x80), Vector256<byte>.Zero).AsUInt64();
            int sum = (int)(sad[0] + sad[1] + sad[2] + sad[3]) - 128 * 32;
            corr[u] = -offset * sum;   // exact in fp32 (|·| ≤ 128 · 32 · 127 < 2^24)
            sub[u] = j < nb ? FormatTables.E8M0[tmpScales[j]] * unit : 0f;
        }
    }

    // Byte i of the even vector: sub-block i/16, element 2·(i%16) → natural index 32·(i/16) + 2·(i%16).
    private static readonly Vector512<byte> EvenIndex = BuildEvenIndex();

    private static Vector512<byte> BuildEvenIndex()
    {
        var b = new byte[64];
        for (int i = 0; i < 64; i++) b[i] = (byte)(32 * (i / 16) + 2 * (i % 16));
        return Vector512.Create(b);
    }

    /// <summary>
    /// Y rows [n0, n1) for every prepared activation row (<paramref name="prep"/>: M × <see cref="RowBytes"/>).
    /// Weights are decoded in registers per row of A (intended for small M).
    /// </summary>
    [SkipLocalsInit]
    public static void Run(in GemmArgs g, byte* prep, long prepStride, Vector512<byte> lut, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int kc = ChunkedK(w.PaddedK), chunks = kc / Chunk;
        bool bs64 = w.BlockSize == 64;
        int chunkBytes = Chunk / 2, chunkScaleBytes = bs64 ? 8 : 16;
        // Chunks whose weight and scale bytes lie wholly inside the row; the last partial chunk is copied, zero-padded.
        int full = Math.Min(w.RowBytes / chunkBytes, w.BlocksPerRow / chunkScaleBytes);
        byte* tailE = stackalloc byte[NR * chunkBytes + 64];
        byte* tailS = stackalloc byte[NR * 16];
        byte** e = stackalloc byte*[NR];
        byte** s = stackalloc byte*[NR];
        Vector512<int> i0 = RowGroup.LaneIdx[0], i1 = RowGroup.LaneIdx[1], i2 = RowGroup.LaneIdx[2], i3 = RowGroup.LaneIdx[3];
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            RowGroup.Prepare(w, nt, n1, NR, chunkBytes, chunkScaleBytes, full, chunks, e, s, tailE, tailS);
            for (int m = 0; m < g.M; m++)
            {
                byte* p = prep + m * prepStride;
                sbyte* codes = (sbyte*)p;
                float* corr = (float*)(p + kc);
                float* sub = corr + kc / 32;
                Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                for (int c = 0; c < chunks; c++)
                {
                    RowGroup.ChunkRows(c, full, chunkBytes, bs64, e, s, tailE, tailS, Vector512.Load(sub + c * 16),
                        out byte* e0, out byte* e1, out byte* e2, out byte* e3, out var v0, out var v1, out var v2, out var v3);
                    // The weight offset's share, Offset · Σa per sub-block, once per chunk (exact integers in fp32).
                    Vector512<float> cv = Vector512.Load(corr + c * 16);
                    f0 = Avx512F.FusedMultiplyAdd(v0, cv, f0); f1 = Avx512F.FusedMultiplyAdd(v1, cv, f1);
                    f2 = Avx512F.FusedMultiplyAdd(v2, cv, f2); f3 = Avx512F.FusedMultiplyAdd(v3, cv, f3);
                    int t0 = c * 4;
                    StepRows(lut, codes + (t0 + 0) * Step, e0, e1, e2, e3, i0, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(lut, codes + (t0 + 1) * Step, e0 + 64, e1 + 64, e2 + 64, e3 + 64, i1, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(lut, codes + (t0 + 2) * Step, e0 + 128, e1 + 128, e2 + 128, e3 + 128, i2, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    StepRows(lut, codes + (t0 + 3) * Step, e0 + 192, e1 + 192, e2 + 192, e3 + 192, i3, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                }
                RowGroup.Store(g, m, nt, nc, f0, f1, f2, f3);
            }
        }
    }

    private const int BlockChunks = 8;

    /// <summary>Scratch bytes <see cref="RunDecoded"/> needs for <paramref name="m"/> rows of A (64-byte aligned).</summary>
    public static long DecodedScratchBytes(int paddedK, int m)
    {
        int kc = ChunkedK(paddedK);
        return NR * (kc + kc / 32 * 4L) + 64 + m * 4L * 64;
    }

    /// <summary>
    /// Like <see cref="Run"/>, for more rows of A: each group of 4 weight rows is decoded once into
    /// <paramref name="scratch"/> (offset int8 values in even/odd step order, and fp32 weight scales per sub-block),
    /// then reused by every row of A.
    /// </summary>
    [SkipLocalsInit]
    public static void RunDecoded(in GemmArgs g, byte* prep, long prepStride, Vector512<byte> lut, int n0, int n1, byte* scratch)
    {
        MxPackedWeight w = g.W;
        int kc = ChunkedK(w.PaddedK), chunks = kc / Chunk, steps = kc / Step;
        bool bs64 = w.BlockSize == 64;
        int chunkBytes = Chunk / 2, chunkScaleBytes = bs64 ? 8 : 16;
        int full = Math.Min(w.RowBytes / chunkBytes, w.BlocksPerRow / chunkScaleBytes);
        byte* tailE = stackalloc byte[chunkBytes];
        byte* tailS = stackalloc byte[16];
        byte* dec = (byte*)(((nint)scratch + 63) & ~(nint)63);      // [NR][steps][128]
        float* wsc = (float*)(dec + (long)NR * kc);                 // [NR][kc/32]
        Vector512<float>* acc = (Vector512<float>*)(wsc + NR * (kc / 32));   // [M][NR] partial sums between K blocks
        Vector512<int> i0 = RowGroup.LaneIdx[0], i1 = RowGroup.LaneIdx[1], i2 = RowGroup.LaneIdx[2], i3 = RowGroup.LaneIdx[3];
        for (int nt = n0; nt < n1; nt += NR)
        {
            int nc = Math.Min(NR, n1 - nt);
            for (int i = 0; i < NR; i++)
            {
                int n = nt + Math.Min(i, nc - 1);
                byte* e = w.Elements + (long)n * w.RowBytes;
                byte* s = w.Scales + (long)n * w.BlocksPerRow;
                byte* d = dec + (long)i * kc;
                for (int c = 0; c < chunks; c++)
                {
                    byte* ec = e + (long)c * chunkBytes;
                    Vector128<byte> b;
                    if (c < full) b = RowGroup.ChunkScales(s, c, bs64);
                    else
                    {
                        new Span<byte>(tailE, chunkBytes).Clear();
                        new Span<byte>(tailS, 16).Clear();
                        Buffer.MemoryCopy(ec, tailE, chunkBytes, w.RowBytes - full * chunkBytes);
                        Buffer.MemoryCopy(s + (long)full * chunkScaleBytes, tailS, 16, w.BlocksPerRow - full * chunkScaleBytes);
                        ec = tailE;
                        b = RowGroup.ChunkScales(tailS, 0, bs64);
                    }
                    RowGroup.E8M0ToFloat(b).Store(wsc + (long)i * (kc / 32) + c * 16);
                    for (int q = 0; q < 4; q++)
                    {
                        Vector512<byte> x = Vector512.Load(ec + q * 64);
                        byte* dq = d + (c * 4 + q) * Step;
                        Avx512Vbmi.PermuteVar64x8(lut, x).Store(dq);
                        Avx512Vbmi.PermuteVar64x8(lut, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte()).Store(dq + 64);
                    }
                }
            }
            byte* d0 = dec, d1 = dec + kc, d2 = dec + 2L * kc, d3 = dec + 3L * kc;
            float* w0 = wsc, w1 = wsc + kc / 32, w2 = wsc + 2 * (kc / 32), w3 = wsc + 3 * (kc / 32);
            // K blocks of 8 chunks (4096 elements: 16 KiB of decoded weights for the 4 rows) keep the decoded rows in L1
            // while every row of A passes over them; partial sums wait in acc between blocks.
            for (int cb = 0; cb < chunks; cb += BlockChunks)
            {
                int ce = Math.Min(chunks, cb + BlockChunks);
                for (int m = 0; m < g.M; m++)
                {
                    byte* p = prep + m * prepStride;
                    sbyte* codes = (sbyte*)p;
                    float* corr = (float*)(p + kc);
                    float* sub = corr + kc / 32;
                    Vector512<float>* am = acc + 4L * m;
                    Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
                    if (cb > 0) { f0 = am[0]; f1 = am[1]; f2 = am[2]; f3 = am[3]; }
                    for (int c = cb; c < ce; c++)
                    {
                        Vector512<float> av = Vector512.Load(sub + c * 16), cv = Vector512.Load(corr + c * 16);
                        Vector512<float> v0 = Vector512.Load(w0 + c * 16) * av, v1 = Vector512.Load(w1 + c * 16) * av,
                                         v2 = Vector512.Load(w2 + c * 16) * av, v3 = Vector512.Load(w3 + c * 16) * av;
                        f0 = Avx512F.FusedMultiplyAdd(v0, cv, f0); f1 = Avx512F.FusedMultiplyAdd(v1, cv, f1);
                        f2 = Avx512F.FusedMultiplyAdd(v2, cv, f2); f3 = Avx512F.FusedMultiplyAdd(v3, cv, f3);
                        long o = (long)c * 4 * Step;
                        StepDecoded(codes + o, d0 + o, d1 + o, d2 + o, d3 + o, i0, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                        o += Step;
                        StepDecoded(codes + o, d0 + o, d1 + o, d2 + o, d3 + o, i1, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                        o += Step;
                        StepDecoded(codes + o, d0 + o, d1 + o, d2 + o, d3 + o, i2, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                        o += Step;
                        StepDecoded(codes + o, d0 + o, d1 + o, d2 + o, d3 + o, i3, v0, v1, v2, v3, ref f0, ref f1, ref f2, ref f3);
                    }
                    if (ce < chunks)
                    {
                        am[0] = f0; am[1] = f1; am[2] = f2; am[3] = f3;
                        continue;
                    }
                    RowGroup.Store(g, m, nt, nc, f0, f1, f2, f3);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StepDecoded(sbyte* a, byte* d0, byte* d1, byte* d2, byte* d3, Vector512<int> idx,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        ref Vector512<float> f0, ref Vector512<float> f1, ref Vector512<float> f2, ref Vector512<float> f3)
    {
        Vector512<sbyte> ae = Vector512.Load(a), ao = Vector512.Load(a + 64);
        f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotDecoded(d0, ae, ao)), Avx512F.PermuteVar16x32(v0, idx), f0);
        f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotDecoded(d1, ae, ao)), Avx512F.PermuteVar16x32(v1, idx), f1);
        f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotDecoded(d2, ae, ao)), Avx512F.PermuteVar16x32(v2, idx), f2);
        f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(DotDecoded(d3, ae, ao)), Avx512F.PermuteVar16x32(v3, idx), f3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DotDecoded(byte* d, Vector512<sbyte> ae, Vector512<sbyte> ao)
    {
        Vector512<short> p = Avx512BW.Add(Avx512BW.MultiplyAddAdjacent(Vector512.Load(d), ae), Avx512BW.MultiplyAddAdjacent(Vector512.Load(d + 64), ao));
        return Avx512BW.MultiplyAddAdjacent(p, Vector512.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StepRows(Vector512<byte> lut, sbyte* a, byte* e0, byte* e1, byte* e2, byte* e3, Vector512<int> idx,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        ref Vector512<float> f0, ref Vector512<float> f1, ref Vector512<float> f2, ref Vector512<float> f3)
    {
        Vector512<sbyte> ae = Vector512.Load(a), ao = Vector512.Load(a + 64);
        f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Dot(lut, e0, ae, ao)), Avx512F.PermuteVar16x32(v0, idx), f0);
        f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Dot(lut, e1, ae, ao)), Avx512F.PermuteVar16x32(v1, idx), f1);
        f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Dot(lut, e2, ae, ao)), Avx512F.PermuteVar16x32(v2, idx), f2);
        f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Dot(lut, e3, ae, ao)), Avx512F.PermuteVar16x32(v3, idx), f3);
    }

    /// <summary>
    /// 16 int32 lanes (4 per sub-block) of Σ (w·2^s + Offset)·a over 128 elements, exact. vpermb reads only the low 6
    /// bits of each index and the table repeats every 16 entries, so neither nibble needs masking.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Dot(Vector512<byte> lut, byte* e, Vector512<sbyte> ae, Vector512<sbyte> ao)
    {
        Vector512<byte> x = Vector512.Load(e);
        Vector512<byte> wl = Avx512Vbmi.PermuteVar64x8(lut, x);
        Vector512<byte> wh = Avx512Vbmi.PermuteVar64x8(lut, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte());
        Vector512<short> p = Avx512BW.Add(Avx512BW.MultiplyAddAdjacent(wl, ae), Avx512BW.MultiplyAddAdjacent(wh, ao));
        return Avx512BW.MultiplyAddAdjacent(p, Vector512.Create((short)1));
    }
}
