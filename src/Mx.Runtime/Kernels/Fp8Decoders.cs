using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels;

/// <summary>
/// FP8 → fp32 by integer arithmetic on 8 × int32 lanes (no table, no gather): normals move their exponent/mantissa
/// bits into place and rebias the exponent with one add; subnormals (exponent field 0) are m · 2^(1−bias−mbits),
/// an exact int→float conversion and multiply; the special codes (E4M3 S.1111.111 = NaN, E5M2 exponent 31 = Inf/NaN)
/// are patched last. Several times cheaper than four gathers per 32 elements.
/// </summary>
internal static class Fp8Arith
{
    /// <summary>One lane per zero-extended code. The subnormal unit 2^(1−bias−mbits) is built from its bits (a constant; a call could stay in the loop).</summary>
    // mbits/bias/e5m2 are constants at every call site: the JIT folds them. The shift counts are written as literals
    // (not computed from the arguments) so that they are immediates: a computed count was measured to stay in a register.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, int mbits, int bias, bool e5m2)
    {
        Vector256<int> em = Avx2.And(x, Vector256.Create(0x7F));
        Vector256<int> sign = Avx2.ShiftLeftLogical(Avx2.And(x, Vector256.Create(0x80)), 24);
        Vector256<float> normal = Avx2.Add(e5m2 ? Avx2.ShiftLeftLogical(em, 21) : Avx2.ShiftLeftLogical(em, 20), Vector256.Create((127 - bias) << 23)).AsSingle();
        Vector256<float> sub = Avx.Multiply(Avx.ConvertToVector256Single(em), Vector256.Create(BitConverter.Int32BitsToSingle((128 - bias - mbits) << 23)));
        Vector256<float> isSub = Avx2.CompareGreaterThan(Vector256.Create(1 << mbits), em).AsSingle();
        Vector256<float> v = Avx.BlendVariable(normal, sub, isSub);
        if (e5m2)
        {
            // Exponent 31: Inf (m = 0) or NaN: all-ones exponent with the code's mantissa bits.
            Vector256<int> special = Avx2.CompareGreaterThan(em, Vector256.Create(0x7B));
            Vector256<int> infNan = Avx2.Or(Avx2.ShiftLeftLogical(Avx2.And(em, Vector256.Create(3)), 21), Vector256.Create(0x7F800000));
            v = Avx.BlendVariable(v, infNan.AsSingle(), special.AsSingle());
        }
        else
        {
            Vector256<int> nan = Avx2.CompareEqual(em, Vector256.Create(0x7F));
            v = Avx.Or(v, Avx2.And(nan, Vector256.Create(0x7FC00000)).AsSingle());
        }
        return Avx.Or(v, sign.AsSingle());
    }
}

/// <summary>MXFP6 E3M2 by the same arithmetic on unpacked 6-bit codes (no special values).</summary>
internal readonly unsafe struct E3M2Decoder : IBlock32Decoder, ILaneDecoder
{
    public static int Bytes32 => 24;
    public static bool Signed => false;

    // s.eee.mm, bias 3: normals rebias by 124 in the fp32 exponent, subnormals are m · 2^-4.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, in DecodeLuts l)
    {
        Vector256<int> em = Avx2.And(x, Vector256.Create(0x1F));
        Vector256<int> sign = Avx2.ShiftLeftLogical(Avx2.And(x, Vector256.Create(0x20)), 26);
        Vector256<float> normal = Avx2.Add(Avx2.ShiftLeftLogical(em, 21), Vector256.Create(124 << 23)).AsSingle();
        Vector256<float> sub = Avx.Multiply(Avx.ConvertToVector256Single(em), Vector256.Create(1f / 16));
        Vector256<float> isSub = Avx2.CompareGreaterThan(Vector256.Create(4), em).AsSingle();
        return Avx.Or(Avx.BlendVariable(normal, sub, isSub), sign.AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<E3M2Decoder>(Simd.Unpack6(p), l, out f0, out f1, out f2, out f3);
}

/// <summary>MXFP8 E4M3 (bias 7; S.1111.111 = NaN) by arithmetic (<see cref="Fp8Arith"/>), codes widened straight from memory.</summary>
internal readonly unsafe struct E4M3Decoder : IBlock32Decoder, ILaneDecoder
{
    public static int Bytes32 => 32;
    public static bool Signed => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, in DecodeLuts l) => Fp8Arith.Decode(x, 3, 7, false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<E4M3Decoder>(p, l, out f0, out f1, out f2, out f3);
}

/// <summary>MXFP8 E5M2 (bias 15; exponent 31 = Inf/NaN) by arithmetic (<see cref="Fp8Arith"/>), codes widened straight from memory.</summary>
internal readonly unsafe struct E5M2Decoder : IBlock32Decoder, ILaneDecoder
{
    public static int Bytes32 => 32;
    public static bool Signed => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode(Vector256<int> x, in DecodeLuts l) => Fp8Arith.Decode(x, 2, 15, true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecodeFloat(byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3) =>
        Simd.Lanes<E5M2Decoder>(p, l, out f0, out f1, out f2, out f3);
}
