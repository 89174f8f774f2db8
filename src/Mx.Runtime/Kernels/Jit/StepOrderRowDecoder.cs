using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>
/// Decodes one row-major weight row into unsigned bytes <c>value·2^s + Offset</c> in the activations' step order (per
/// 128 elements: the 64 even elements, then the 64 odd ones), with fp32 sub-block scales: 4-bit codes through a
/// 64-entry vpermb table (offset included), MXINT8 codes XOR 0x80 (offset 128), 6-bit codes through vpermb +
/// vpmultishiftqb + a 64-entry table. Shared by the decoded-weights kernels (<see cref="MxMxDecodedVnni"/>,
/// <see cref="MxMxTileGemm"/>). Immutable.
/// </summary>
internal sealed unsafe class StepOrderRowDecoder(VnniWeightKind kind, Vector512<byte> lut)
{
    private readonly VnniWeightKind _kind = kind;
    private readonly Vector512<byte> _lut = lut;

    // One weight row → kc bytes of offset values in step order, and kc/32 fp32 sub-block scales.
    [MethodImpl(MethodImplOptions.AggressiveInlining), SkipLocalsInit]
    public void DecodeRow(in GemmArgs g, int n, int kc, byte* dst, float* wsc)
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
        var offset = Vector256.Create((byte)128);
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
