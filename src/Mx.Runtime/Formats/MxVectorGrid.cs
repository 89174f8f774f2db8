using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Formats;

/// <summary>
/// <see cref="MxElementGrid"/>'s rounding done on eight float32 lanes at once: y (already divided by the scale) → element
/// code, with integer arithmetic on y's bits and per-lane variable shifts, so it matches
/// <see cref="MxElementEncoding.UnboundedMagnitude"/> (then saturation and the sign rule) bit for bit.
/// </summary>
internal readonly struct MxVectorGrid
{
    private readonly Vector256<uint> _eminBiased, _dropBase, _maxMag, _away, _signShift, _mask;
    private readonly int _m;
    private readonly bool _twosComplement, _signedZero;

    public MxVectorGrid(MxFormat format, MxRounding rounding)
    {
        ref readonly var g = ref MxElementGrid.For(format);
        _m = g.M;
        _eminBiased = Vector256.Create((uint)(g.Emin + 127));
        _dropBase = Vector256.Create((uint)(23 - g.M));
        _maxMag = Vector256.Create((uint)g.MaxMagnitude);
        _away = Vector256.Create(rounding == MxRounding.NearestAway ? uint.MaxValue : 0u);
        _signShift = Vector256.Create((uint)(g.Bits - 1));
        _mask = Vector256.Create((1u << g.Bits) - 1);
        _twosComplement = g.TwosComplement;
        _signedZero = g.SignedZero;
    }

    /// <summary>Element codes (one per uint lane) of eight already-scaled values y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<uint> Encode(Vector256<float> y)
    {
        var bits = y.AsUInt32();
        var sign = Vector256.ShiftRightLogical(bits, 31);
        var a = bits & Vector256.Create(0x7FFFFFFFu);
        var expY = Vector256.ShiftRightLogical(a, 23);
        var man = (a & Vector256.Create(0x7FFFFFu)) | (Vector256.GreaterThan(expY, Vector256<uint>.Zero) & Vector256.Create(0x800000u));
        var expEff = Avx2.Max(expY, Vector256<uint>.One);
        // drop = 23 − M + max(0, eminBiased − expEff), at most 31
        var deficit = Avx2.Max(_eminBiased, expEff) - expEff;
        var drop = Avx2.Min(_dropBase + deficit, Vector256.Create(31u));
        var half = Avx2.ShiftLeftLogicalVariable(Vector256<uint>.One, drop - Vector256<uint>.One);
        var lsb = Avx2.ShiftRightLogicalVariable(man, drop) & Vector256<uint>.One;
        // nearest-even: half − 1 + lsb; nearest-away: half
        var bias = Vector256.ConditionalSelect(_away, half, half - Vector256<uint>.One + lsb);
        var n = Avx2.ShiftRightLogicalVariable(man + bias, drop);
        var over = Avx2.Max(expY, _eminBiased) - _eminBiased;
        var code = Avx2.Min(Vector256.ShiftLeft(over, _m) + n, _maxMag);
        if (_twosComplement)
        {
            var neg = Vector256.Equals(sign, Vector256<uint>.One);
            return Vector256.ConditionalSelect(neg, (Vector256<uint>.Zero - code) & _mask, code);
        }
        var signBit = Avx2.ShiftLeftLogicalVariable(sign, _signShift);
        // Sign + magnitude: MX9/6/4 write a zero magnitude as code 0, floats keep −0's sign bit.
        if (!_signedZero) signBit = Vector256.AndNot(signBit, Vector256.Equals(code, Vector256<uint>.Zero));
        return code | signBit;
    }

    /// <summary>2^<paramref name="k"/> as float32 for k in [−127, 127] (2^−127 is the subnormal 0x00400000).</summary>
    public static float PowerOfTwo(int k) =>
        k == -127 ? BitConverter.Int32BitsToSingle(0x00400000) : BitConverter.Int32BitsToSingle((k + 127) << 23);
}
