namespace Mx.Runtime.Formats;

/// <summary>Rounding of a float to an E8M0 power of two, as ONNX <c>Cast(to=FLOAT8E8M0, round_mode=...)</c> defines it.</summary>
public enum E8M0RoundMode
{
    /// <summary>Toward +∞: any non-zero fraction bumps the exponent (ONNX default).</summary>
    Up,

    /// <summary>Toward zero: the fraction is dropped.</summary>
    Down,

    /// <summary>To nearest on the fraction bits (guard, round, sticky); a tie goes up except at exponent field 0.</summary>
    Nearest,
}

/// <summary>
/// The E8M0 scale type of OCP MX: 8 exponent bits, bias 127, no sign, no mantissa. Byte b means 2^(b − 127);
/// 0x00 = 2^−127, 0xFE = 2^127, 0xFF = NaN. There is no zero and no infinity.
/// </summary>
public static class E8M0
{
    /// <summary>The NaN byte.</summary>
    public const byte NaN = 0xFF;

    /// <summary>Exponent bias.</summary>
    public const int Bias = 127;

    /// <summary>Smallest and largest exponent a byte can hold.</summary>
    public const int MinExponent = -127, MaxExponent = 127;

    /// <summary>The byte of 2^<paramref name="exponent"/>; the exponent is clamped to [−127, 127].</summary>
    public static byte FromExponent(int exponent) => (byte)(Math.Clamp(exponent, MinExponent, MaxExponent) + Bias);

    /// <summary>The exponent of a byte (0xFF, NaN, gives 128).</summary>
    public static int ToExponent(byte b) => b - Bias;

    /// <summary>
    /// The value of a byte as float32: 2^(b − 127) exactly (0x00 is the subnormal 2^−127), NaN for 0xFF.
    /// </summary>
    public static float ToFloat(byte b) =>
        b == NaN ? float.NaN : b == 0 ? BitConverter.Int32BitsToSingle(0x00400000) : BitConverter.Int32BitsToSingle(b << 23);

    /// <summary>
    /// Converts a float32 as ONNX Cast to FLOAT8E8M0 does (onnx.numpy_helper.to_float8e8m0): the result is the float's
    /// 8-bit exponent field (the sign is ignored; ±0 and float32 subnormals have field 0), adjusted by
    /// <paramref name="mode"/>. NaN and ±Inf give 0xFF. With <paramref name="saturate"/> a rounding that would
    /// carry 0xFE into 0xFF stays 0xFE; without it the carry gives 0xFF (NaN).
    /// Up: +1 when the fraction bits are non-zero (field 0 included). Nearest: +1 when the guard bit (bit 22) is set
    /// and the round bit, a sticky bit or "field > 0" is set. Down: no change.
    /// </summary>
    public static byte FromFloat(float value, bool saturate = true, E8M0RoundMode mode = E8M0RoundMode.Up)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        int field = (int)((bits >> 23) & 0xFF);
        if (field == 0xFF) return NaN;
        bool up = mode switch
        {
            E8M0RoundMode.Up => (bits & 0x7FFFFF) != 0,
            E8M0RoundMode.Nearest => (bits & 0x400000) != 0 && ((bits & 0x200000) != 0 || (bits & 0x1FFFFF) != 0 || field > 0),
            _ => false,
        };
        if (up && !(saturate && field == 0xFE)) field++;
        return (byte)field;
    }
}
