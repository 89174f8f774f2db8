using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>Lookup tables a SIMD block decoder reads, prepared once per kernel.</summary>
internal readonly unsafe struct DecodeLuts
{
    /// <summary>pshufb table: int8 values of codes 0..15 (4-bit formats) or magnitudes 0..15 (6-bit), in both 128-bit lanes.</summary>
    public readonly Vector256<sbyte> Lut0;
    /// <summary>pshufb table: int8 values of magnitudes 16..31 (6-bit formats).</summary>
    public readonly Vector256<sbyte> Lut1;
    /// <summary>code → float table for gather decoders.</summary>
    public readonly float* Floats;
    /// <summary>4-bit integer formats: pshufb tables of the high / low byte of each int value as bfloat16 (exact for |v| ≤ 256).</summary>
    public readonly Vector256<byte> Bf16Hi, Bf16Lo;

    public DecodeLuts(FormatTables t)
    {
        Floats = t.Floats;
        sbyte* ints = t.Ints;
        if (ints == null) return;
        var l0 = new sbyte[32];
        var l1 = new sbyte[32];
        int n = 1 << t.Format.ElementBits;
        for (int i = 0; i < 16; i++)
        {
            l0[i] = l0[i + 16] = ints[i % n];
            l1[i] = l1[i + 16] = n > 16 ? ints[(16 + i) % n] : (sbyte)0;
        }
        Lut0 = Vector256.Create(l0);
        Lut1 = Vector256.Create(l1);
        if (n != 16) return;
        var hi = new byte[32];
        var lo = new byte[32];
        for (int i = 0; i < 32; i++)
        {
            int bits = BitConverter.SingleToInt32Bits(ints[i % 16]);
            hi[i] = (byte)(bits >> 24);
            lo[i] = (byte)(bits >> 16);
        }
        Bf16Hi = Vector256.Create(hi);
        Bf16Lo = Vector256.Create(lo);
    }
}

/// <summary>
/// Decodes 32 consecutive elements (one 32-element sub-block, starting on a byte) with AVX2. Generic struct parameters
/// let the JIT specialise each kernel per format (ggml-style traits) with no dispatch in the inner loop. The int8
/// members default to "not available"; only the integer-valued decoders implement them.
/// </summary>
internal unsafe interface IBlock32Decoder
{
    /// <summary>Bytes holding 32 elements.</summary>
    static abstract int Bytes32 { get; }

    /// <summary>Whether <see cref="DecodeInt8"/> is available (values · 2^IntShift are int8).</summary>
    static virtual bool IsInteger => false;

    /// <summary>The 32 values · 2^IntShift as int8, element order.</summary>
    static virtual Vector256<sbyte> DecodeInt8(byte* p, in DecodeLuts l) => throw new NotSupportedException();

    /// <summary>
    /// Whether <see cref="DecodeInt8Dot"/> yields the 32 values in "split" order (even elements, then odd ones) rather
    /// than element order; the MX×MX kernel then stores the activation codes of each 32-element chunk in the same order.
    /// A dot product does not care about order, and the split order saves the nibble interleave.
    /// </summary>
    static virtual bool SplitOrder => false;

    /// <summary>The 32 int8 values for dot products, in <see cref="SplitOrder"/> order.</summary>
    static virtual Vector256<sbyte> DecodeInt8Dot(byte* p, in DecodeLuts l) => throw new NotSupportedException();

    /// <summary>The 32 values (integer formats: · 2^IntShift) as 4 × 8 floats, element order.</summary>
    static abstract void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3);
}

/// <summary>
/// The per-lane step of a 32-element float decode: 8 codes, widened to int32 lanes, become 8 floats.
/// <see cref="Simd.Lanes{TOp}(Vector256{byte}, in DecodeLuts, out Vector256{float}, out Vector256{float}, out Vector256{float}, out Vector256{float})"/>
/// does the widening for all four groups of 8, so each decoder states only its arithmetic.
/// </summary>
internal interface ILaneDecoder
{
    /// <summary>Sign-extend the code bytes (int8 values) rather than zero-extend them (codes).</summary>
    static abstract bool Signed { get; }

    static abstract Vector256<float> Decode(Vector256<int> x, in DecodeLuts l);
}

/// <summary>Shared AVX2 pieces: unpacking 4/6-bit codes to one byte per element, int8 → float.</summary>
internal static unsafe class Simd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack4(byte* p)
    {
        // Byte j holds element 2j low and 2j+1 high: split the nibbles, then interleave them back in element order.
        Vector128<byte> raw = Sse2.LoadVector128(p);
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        Vector128<byte> lo = Sse2.And(raw, mask);
        Vector128<byte> hi = Sse2.And(Sse2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte(), mask);
        return Vector256.Create(Sse2.UnpackLow(lo, hi), Sse2.UnpackHigh(lo, hi));
    }

    private static readonly Vector256<byte> Spread6 = Vector256.Create(
        (byte)0, 1, 2, 0x80, 3, 4, 5, 0x80, 6, 7, 8, 0x80, 9, 10, 11, 0x80,
        4, 5, 6, 0x80, 7, 8, 9, 0x80, 10, 11, 12, 0x80, 13, 14, 15, 0x80);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Unpack6(byte* p)
    {
        // 24 bytes = 8 groups of 3 bytes = 8 × 4 elements. Spread each group into a 32-bit lane (the high lane loads
        // from p + 8 so that no byte past the block is read), then move element t of the group to byte t.
        var v = Vector256.Create(Sse2.LoadVector128(p), Sse2.LoadVector128(p + 8));
        Vector256<uint> w = Avx2.Shuffle(v, Spread6).AsUInt32();
        Vector256<uint> c = Avx2.And(w, Vector256.Create(0x3Fu));
        c = Avx2.Or(c, Avx2.And(Avx2.ShiftLeftLogical(w, 2), Vector256.Create(0x3F00u)));
        c = Avx2.Or(c, Avx2.And(Avx2.ShiftLeftLogical(w, 4), Vector256.Create(0x3F0000u)));
        c = Avx2.Or(c, Avx2.And(Avx2.ShiftLeftLogical(w, 6), Vector256.Create(0x3F000000u)));
        return c.AsByte();
    }

    /// <summary>32 codes (in a register) → 4 × 8 floats through <typeparamref name="TOp"/>, element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Lanes<TOp>(Vector256<byte> codes, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3)
        where TOp : struct, ILaneDecoder
    {
        Vector128<byte> lo = codes.GetLower(), hi = codes.GetUpper();
        f0 = TOp.Decode(Widen<TOp>(lo), l);
        f1 = TOp.Decode(Widen<TOp>(Sse2.ShiftRightLogical128BitLane(lo, 8)), l);
        f2 = TOp.Decode(Widen<TOp>(hi), l);
        f3 = TOp.Decode(Widen<TOp>(Sse2.ShiftRightLogical128BitLane(hi, 8)), l);
    }

    /// <summary>32 codes at <paramref name="p"/> (one byte each) → 4 × 8 floats; widened straight from memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Lanes<TOp>(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3)
        where TOp : struct, ILaneDecoder
    {
        f0 = TOp.Decode(Widen<TOp>(p, 0), l);
        f1 = TOp.Decode(Widen<TOp>(p, 8), l);
        f2 = TOp.Decode(Widen<TOp>(p, 16), l);
        f3 = TOp.Decode(Widen<TOp>(p, 24), l);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Widen<TOp>(Vector128<byte> v) where TOp : struct, ILaneDecoder =>
        TOp.Signed ? Avx2.ConvertToVector256Int32(v.AsSByte()) : Avx2.ConvertToVector256Int32(v);

    // p and offset separately (a local and a constant): the inliner substitutes both, so p + offset stays an
    // addressing mode of the load instead of a computed temporary.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Widen<TOp>(byte* p, int offset) where TOp : struct, ILaneDecoder =>
        TOp.Signed ? Avx2.ConvertToVector256Int32((sbyte*)p + offset) : Avx2.ConvertToVector256Int32(p + offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> v)
    {
        Vector128<float> s = Sse.Add(v.GetLower(), v.GetUpper());
        s = Sse.Add(s, Sse.MoveHighToLow(s, s));
        s = Sse.AddScalar(s, Sse.Shuffle(s, s, 1));
        return s.ToScalar();
    }
}

/// <summary>int8 values → float (integer decoders).</summary>
internal readonly struct IntToFloat : ILaneDecoder
{
    public static bool Signed => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, in DecodeLuts l) => Avx.ConvertToVector256Single(x);
}

/// <summary>Codes → gather from the float table.</summary>
internal readonly unsafe struct TableGather : ILaneDecoder
{
    public static bool Signed => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, in DecodeLuts l) => Avx2.GatherVector256(l.Floats, x, 4);
}

/// <summary>4-bit integer-valued formats (MXFP4 E2M1 ×2, MXINT4 ×4): nibbles → int8 by one pshufb.</summary>
internal readonly unsafe struct Nibble4Decoder : IBlock32Decoder
{
    public static int Bytes32 => 16;
    public static bool IsInteger => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8(byte* p, in DecodeLuts l) => Avx2.Shuffle(l.Lut0, Simd.Unpack4(p).AsSByte());

    public static bool SplitOrder => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8Dot(byte* p, in DecodeLuts l)
    {
        // The 16 bytes in both lanes; the high lane shifted right by 4 bits: low lane = even elements (low nibbles),
        // high lane = odd elements (high nibbles). 3 instructions instead of 5, then one pshufb.
        Vector256<ulong> x = Avx2.BroadcastVector128ToVector256((ulong*)p);
        x = Avx2.ShiftRightLogicalVariable(x, Vector256.Create(0ul, 0ul, 4ul, 4ul));
        return Avx2.Shuffle(l.Lut0, Avx2.And(x.AsByte(), Vector256.Create((byte)0x0F)).AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<IntToFloat>(DecodeInt8(p, l).AsByte(), l, out f0, out f1, out f2, out f3);
}

/// <summary>MXINT8: the codes are the int8 values (×64).</summary>
internal readonly unsafe struct Int8Decoder : IBlock32Decoder
{
    public static int Bytes32 => 32;
    public static bool IsInteger => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8(byte* p, in DecodeLuts l) => Avx.LoadVector256((sbyte*)p);

    public static bool SplitOrder => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8Dot(byte* p, in DecodeLuts l) => DecodeInt8(p, l);

    // Sign-extended straight from memory: no shuffles needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<IntToFloat>(p, l, out f0, out f1, out f2, out f3);
}

/// <summary>
/// 6-bit integer-valued format (MXFP6 E2M3 ×8, values up to ±60): magnitude (low 5 bits) through two pshufb tables,
/// then the sign bit applied with psignb.
/// </summary>
internal readonly unsafe struct Six6IntDecoder : IBlock32Decoder
{
    public static int Bytes32 => 24;
    public static bool IsInteger => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8(byte* p, in DecodeLuts l)
    {
        Vector256<sbyte> c = Simd.Unpack6(p).AsSByte();   // codes < 64: bit 7 clear, so pshufb uses the low 4 bits
        Vector256<sbyte> m0 = Avx2.Shuffle(l.Lut0, c), m1 = Avx2.Shuffle(l.Lut1, c);
        Vector256<sbyte> high = Avx2.CompareEqual(Avx2.And(c, Vector256.Create((sbyte)0x10)), Vector256.Create((sbyte)0x10));
        Vector256<sbyte> mag = Avx2.BlendVariable(m0, m1, high);
        Vector256<sbyte> neg = Avx2.CompareEqual(Avx2.And(c, Vector256.Create((sbyte)0x20)), Vector256.Create((sbyte)0x20));
        return Avx2.Sign(mag, Avx2.Or(neg, Vector256.Create((sbyte)1)));   // −1 where the sign bit is set, +1 elsewhere
    }

    public static bool SplitOrder => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> DecodeInt8Dot(byte* p, in DecodeLuts l) => DecodeInt8(p, l);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<IntToFloat>(DecodeInt8(p, l).AsByte(), l, out f0, out f1, out f2, out f3);
}

/// <summary>8-bit float formats (FP8 E4M3/E5M2, incl. NaN/Inf codes): codes → gather from the 256-entry float table.</summary>
internal readonly unsafe struct Byte8GatherDecoder : IBlock32Decoder
{
    public static int Bytes32 => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<TableGather>(Avx.LoadVector256(p), l, out f0, out f1, out f2, out f3);
}

/// <summary>6-bit float format without int8 form (MXFP6 E3M2): unpack, then gather from the 64-entry float table.</summary>
internal readonly unsafe struct Six6GatherDecoder : IBlock32Decoder
{
    public static int Bytes32 => 24;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<TableGather>(Simd.Unpack6(p), l, out f0, out f1, out f2, out f3);
}

/// <summary>Marker: no SIMD decoder fits (block size 8/16, MX9/MX6/MX4); kernels decode with <see cref="ScalarBlockDecoder"/>.</summary>
internal readonly unsafe struct ScalarFallbackDecoder : IBlock32Decoder
{
    public static int Bytes32 => 0;
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        throw new NotSupportedException();
}
