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
    private readonly VnniWeightKind _kind;
    private readonly int _offset;      // added to int8 values (the generic decode)
    private readonly Vector512<byte> _lut;
    private readonly int _generic;     // 0: nibble table; 1: Int8Decoder; 2: 6-bit codes through a 64-entry table

    private MxMxDecodedVnni(int chunkedK, VnniWeightKind kind, int generic, int offset, Vector512<byte> lut)
    {
        lock (Code)
        {
            if (!Code.TryGetValue(chunkedK, out _fn))
                Code[chunkedK] = _fn = ExecutableMemory.Commit(VnniDecodedEmitter.Emit(chunkedK));
        }
        _kind = kind;
        _generic = generic;
        _offset = offset;
        _lut = lut;
        _consts = GC.AllocateArray<byte>(VnniGemvEmitter.ConstLaneIdx + 4 * 64 + 64, pinned: true);
        int* idx = (int*)(Consts + VnniGemvEmitter.ConstLaneIdx);
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < 16; l++) idx[q * 16 + l] = 4 * q + l / 4;
    }

    private byte* Consts => (byte*)(((nint)Unsafe.AsPointer(ref _consts[0]) + 63) & ~(nint)63);

    /// <summary>For 4-bit codes decoded through the 64-byte table <paramref name="lut"/> (offset included in it).</summary>
    public static MxMxDecodedVnni ForNibble4(MxPackedWeight w, Vector512<byte> lut) => new(RowGroup.ChunkedK(w.PaddedK), VnniWeightKind.Nibble4, 0, 0, lut);

    /// <summary>For MXINT8 codes (offset 128).</summary>
    public static MxMxDecodedVnni ForInt8(MxPackedWeight w) => new(RowGroup.ChunkedK(w.PaddedK), VnniWeightKind.Int8, 1, 128, default);

    /// <summary>For 6-bit integer-valued codes (MXFP6 E2M3 · 8) through the 64-entry table <paramref name="lut"/> (offset included).</summary>
    public static MxMxDecodedVnni ForSix6(MxPackedWeight w, Vector512<byte> lut) => new(RowGroup.ChunkedK(w.PaddedK), VnniWeightKind.Six6, 2, 0, lut);

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
                        DecodeRow(g, nt + Math.Min(i, nc - 1), kc, dec + (long)i * kc, wsc + (long)i * (kc / 32));
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

    // One weight row → kc bytes of offset values in step order, and kc/32 fp32 sub-block scales.
    [MethodImpl(MethodImplOptions.AggressiveInlining), SkipLocalsInit]
    private void DecodeRow(in GemmArgs g, int n, int kc, byte* dst, float* wsc)
    {
        MxPackedWeight w = g.W;
        byte* e = w.Elements + (long)n * w.RowBytes, s = w.Scales + (long)n * w.BlocksPerRow;
        int subs = w.PaddedK / 32;
        bool bs64 = w.BlockSize == 64;
        int chunkScaleBytes = bs64 ? 8 : 16, fullChunks = w.BlocksPerRow / chunkScaleBytes;
        byte* tailS = stackalloc byte[16];
        for (int c = 0; c < kc / RowGroup.Chunk; c++)
        {
            // Past the row the scale bytes read as 0 (2^−127): harmless, those sub-blocks' activation scales are 0.
            byte* sc = s;
            int cc = c;
            if (c >= fullChunks)
            {
                new Span<byte>(tailS, 16).Clear();
                Buffer.MemoryCopy(s + (long)fullChunks * chunkScaleBytes, tailS, 16, w.BlocksPerRow - fullChunks * chunkScaleBytes);
                sc = tailS;
                cc = 0;
            }
            RowGroup.E8M0ToFloat(RowGroup.ChunkScales(sc, cc, bs64)).Store(wsc + 16 * c);
        }
        if (_kind == VnniWeightKind.Nibble4) DecodeNibbles(e, w.RowBytes, kc, dst);
        else if (_kind == VnniWeightKind.Six6) DecodeSix6(e, w.RowBytes, kc, dst);
        else DecodeInt8<Int8Decoder>(e, g.Luts, subs, kc, dst);
    }

    private void DecodeNibbles(byte* e, int rowBytes, int kc, byte* dst)
    {
        byte* tail = stackalloc byte[64];
        for (int t = 0; t < kc / 128; t++)
        {
            Vector512<byte> x;
            int at = t * 64;
            if (at + 64 <= rowBytes) x = Vector512.Load(e + at);
            else
            {
                new Span<byte>(tail, 64).Clear();
                if (at < rowBytes) Buffer.MemoryCopy(e + at, tail, 64, rowBytes - at);
                x = Vector512.Load(tail);
            }
            Avx512Vbmi.PermuteVar64x8(_lut, x).Store(dst + t * 128);
            Avx512Vbmi.PermuteVar64x8(_lut, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte()).Store(dst + t * 128 + 64);
        }
    }

    // 64 six-bit codes (48 bytes) → 64 table bytes, natural order: vpermb spreads 6 bytes into each qword, vpmultishiftqb
    // moves code i of the qword to byte i, and the table lookup reads only the low 6 bits.
    private void DecodeSix6(byte* e, int rowBytes, int kc, byte* dst)
    {
        byte* tail = stackalloc byte[64];
        Vector512<byte> idxE = EvenIndex, idxO = EvenIndex + Vector512.Create((byte)1);
        for (int t = 0; t < kc / 128; t++)
        {
            Vector512<byte> g0 = Six6Group(e, t * 96, rowBytes, tail), g1 = Six6Group(e, t * 96 + 48, rowBytes, tail);
            Avx512Vbmi.PermuteVar64x8x2(g0, idxE, g1).Store(dst + t * 128);
            Avx512Vbmi.PermuteVar64x8x2(g0, idxO, g1).Store(dst + t * 128 + 64);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector512<byte> Six6Group(byte* e, int at, int rowBytes, byte* tail)
    {
        Vector512<byte> x;
        if (at + 64 <= rowBytes) x = Vector512.Load(e + at);
        else
        {
            new Span<byte>(tail, 64).Clear();
            if (at < rowBytes) Buffer.MemoryCopy(e + at, tail, 64, Math.Min(48, rowBytes - at));
            x = Vector512.Load(tail);
        }
        x = Avx512Vbmi.PermuteVar64x8(x, Six6Spread);
        x = Avx512Vbmi.MultiShift(Six6Shift, x.AsUInt64());
        return Avx512Vbmi.PermuteVar64x8(_lut, x);
    }

    private static readonly Vector512<byte> Six6Spread = Build(i => 6 * (i / 8) + Math.Min(i % 8, 5));
    private static readonly Vector512<byte> Six6Shift = Build(i => 6 * (i % 8));

    private static Vector512<byte> Build(Func<int, int> f)
    {
        var b = new byte[64];
        for (int i = 0; i < 64; i++) b[i] = (byte)f(i);
        return Vector512.Create(b);
    }

    private void DecodeInt8<TDec>(byte* e, in DecodeLuts luts, int subs, int kc, byte* dst) where TDec : IBlock32Decoder
    {
        byte* nat = stackalloc byte[128];
        var offset = Vector256.Create((byte)_offset);
        Vector512<byte> idxE = EvenIndex, idxO = EvenIndex + Vector512.Create((byte)1);
        for (int t = 0; t < kc / 128; t++)
        {
            for (int j = 0; j < 4; j++)
            {
                int u = 4 * t + j;
                Vector256<byte> v = u < subs ? TDec.DecodeInt8(e + (long)u * TDec.Bytes32, luts).AsByte() + offset : Vector256<byte>.Zero;
                v.Store(nat + 32 * j);
            }
            Vector512<byte> s0 = Vector512.Load(nat), s1 = Vector512.Load(nat + 64);
            Avx512Vbmi.PermuteVar64x8x2(s0, idxE, s1).Store(dst + t * 128);
            Avx512Vbmi.PermuteVar64x8x2(s0, idxO, s1).Store(dst + t * 128 + 64);
        }
    }

    // Byte i of the even vector: sub-block i/16, element 2·(i%16) → natural index 32·(i/16) + 2·(i%16).
    private static readonly Vector512<byte> EvenIndex = Build(i => 32 * (i / 16) + 2 * (i % 16));
}
