using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>The argument block of the generated decoded-weights kernel (offsets in <see cref="VnniDecodedEmitter"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct VnniDecodedArgs
{
    public byte* Dec;         // [4][kc] decoded weight bytes, step order
    public float* Wsc;        // [4][kc/32] weight sub-block scales
    public byte* Prep;        // prepared activation rows
    public long PrepStride;
    public long M;
    public float* Y;          // Y[0, nt]
    public long YStride;      // bytes between rows of Y
    public float* Bias;       // bias + nt, or null
    public long Nc;           // rows of the group that exist (1–4)
    public long C0;           // first chunk
    public long C1x64;        // end chunk · 64
    public float* Acc;        // [M][4][16] partial sums between K blocks
    public long Last;         // nonzero: this block ends K, write Y
    public byte* Consts;      // lane index vectors at VnniGemvEmitter.ConstLaneIdx
}

/// <summary>
/// MX×MX for more rows of A (and for formats without an in-register decode): each group of 4 weight rows is decoded
/// once into unsigned bytes <c>value·2^s + Offset</c> in step order with fp32 sub-block scales, then the generated
/// AVX512_VNNI kernel (<see cref="VnniDecodedEmitter"/>) runs every prepared activation row over it, K in blocks of
/// 4096 elements so the decoded block (16 KiB) stays in L1. Serves 4-bit codes (vpermb table decode), MXINT8
/// (codes XOR 0x80) and MXFP6 E2M3 (unpacked to int8, plus 64).
/// </summary>
internal sealed unsafe class MxMxDecodedVnni
{
    private const int BlockChunks = 8;
    private static readonly Dictionary<int, nint> Code = [];
    private readonly nint _fn;
    private readonly byte[] _consts;   // pinned: lane index vectors
    private readonly StepOrderRowDecoder _decoder;

    private MxMxDecodedVnni(int chunkedK, StepOrderRowDecoder decoder)
    {
        lock (Code)
        {
            if (!Code.TryGetValue(chunkedK, out _fn))
                Code[chunkedK] = _fn = ExecutableMemory.Commit(VnniDecodedEmitter.Emit(chunkedK));
        }
        _decoder = decoder;
        _consts = GC.AllocateArray<byte>(VnniGemvEmitter.ConstLaneIdx + 4 * 64 + 64, pinned: true);
        int* idx = (int*)(Consts + VnniGemvEmitter.ConstLaneIdx);
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < 16; l++) idx[q * 16 + l] = 4 * q + l / 4;
    }

    /// <summary>The row decoder (shared with the tile GEMM of the same weight).</summary>
    public StepOrderRowDecoder Decoder => _decoder;

    private byte* Consts => (byte*)(((nint)Unsafe.AsPointer(ref _consts[0]) + 63) & ~(nint)63);

    /// <summary>For 4-bit codes decoded through the 64-byte table <paramref name="lut"/> (offset included in it).</summary>
    public static MxMxDecodedVnni ForNibble4(MxPackedWeight w, Vector512<byte> lut) => new(RowGroup.ChunkedK(w.PaddedK), new(VnniWeightKind.Nibble4, lut));

    /// <summary>For MXINT8 codes (offset 128).</summary>
    public static MxMxDecodedVnni ForInt8(MxPackedWeight w) => new(RowGroup.ChunkedK(w.PaddedK), new(VnniWeightKind.Int8, default));

    /// <summary>For 6-bit integer-valued codes (MXFP6 E2M3 · 8) through the 64-entry table <paramref name="lut"/> (offset included).</summary>
    public static MxMxDecodedVnni ForSix6(MxPackedWeight w, Vector512<byte> lut) => new(RowGroup.ChunkedK(w.PaddedK), new(VnniWeightKind.Six6, lut));

    /// <summary>Scratch bytes <see cref="Run"/> needs for <paramref name="m"/> rows of A.</summary>
    public static long ScratchBytes(int paddedK, int m)
    {
        int kc = RowGroup.ChunkedK(paddedK);
        return 4L * kc + 4L * (kc / 32) * 4 + (long)m * 4 * 64 + 128;
    }

    /// <summary>Y rows [n0, n1) for the <c>g.M</c> prepared (step-order) activation rows at <paramref name="prep"/>.</summary>
    [SkipLocalsInit]
    public void Run(in GemmArgs g, byte* prep, long prepStride, int n0, int n1)
    {
        MxPackedWeight w = g.W;
        int kc = RowGroup.ChunkedK(w.PaddedK), chunks = kc / RowGroup.Chunk;
        long bytes = ScratchBytes(w.PaddedK, g.M);
        if (bytes > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one MX×MX call at K = {w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)bytes);
        try
        {
            fixed (byte* raw = rented)
            {
                byte* dec = (byte*)(((nint)raw + 63) & ~(nint)63);
                float* wsc = (float*)(dec + 4L * kc);
                float* acc = wsc + 4 * (kc / 32);
                var args = new VnniDecodedArgs
                {
                    Dec = dec, Wsc = wsc, Prep = prep, PrepStride = prepStride, M = g.M,
                    YStride = (long)w.Rows * sizeof(float), Acc = acc, Consts = Consts,
                };
                for (int nt = n0; nt < n1; nt += 4)
                {
                    int nc = Math.Min(4, n1 - nt);
                    for (int i = 0; i < 4; i++)
                        _decoder.DecodeRow(g, nt + Math.Min(i, nc - 1), kc, dec + (long)i * kc, wsc + (long)i * (kc / 32));
                    args.Y = g.Y + nt;
                    args.Bias = g.Bias == null ? null : g.Bias + nt;
                    args.Nc = nc;
                    for (int cb = 0; cb < chunks; cb += BlockChunks)
                    {
                        int ce = Math.Min(chunks, cb + BlockChunks);
                        args.C0 = cb;
                        args.C1x64 = ce * 64L;
                        args.Last = ce == chunks ? 1 : 0;
                        ((delegate* unmanaged<VnniDecodedArgs*, void>)_fn)(&args);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
