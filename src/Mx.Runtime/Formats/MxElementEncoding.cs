namespace Mx.Runtime.Formats;

/// <summary>
/// The scalar reference element encoder: value → element code, exactly (integer arithmetic on the float32 bits, no
/// intermediate rounding). The inverse of <see cref="MxElementDecoding"/>; every vectorized path must match it bit for bit.
/// </summary>
public static class MxElementEncoding
{
    /// <summary>
    /// The code of the element nearest to <paramref name="value"/> · 2^−<paramref name="scaleExponent"/>, ties by
    /// <paramref name="rounding"/>. Magnitudes above the format's largest normal saturate to ±max. ±Inf gives ±max;
    /// NaN gives code 0 (a block holding NaN is marked by its scale byte, not by its codes).
    /// Signs: floats keep the sign bit, also for results of magnitude 0 (−0 → sign bit only); MXINT uses two's
    /// complement (−128/−8 never produced); MX9/6/4 use sign + magnitude, and a zero magnitude is always code 0.
    /// For MX9/6/4 pass the exponent of the pair (block exponent − micro-exponent).
    /// </summary>
    public static int Encode(MxFormat format, float value, int scaleExponent, MxRounding rounding = MxRounding.NearestEven)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return 0;
        ref readonly var g = ref MxElementGrid.For(format);
        int mag = (bits & 0x7FFFFFFF) == 0x7F800000
            ? g.MaxMagnitude
            : Math.Min(UnboundedMagnitude(bits & 0x7FFFFFFF, scaleExponent, g.M, g.Emin, rounding), g.MaxMagnitude);
        return Sign(g, mag, (bits >> 31) != 0);
    }

    internal static int Sign(in MxElementGrid g, int mag, bool negative)
    {
        if (!negative) return mag;
        if (g.TwosComplement) return -mag & ((1 << g.Bits) - 1);
        if (mag == 0 && !g.SignedZero) return 0;
        return mag | (1 << (g.Bits - 1));
    }

    /// <summary>
    /// The magnitude code of |x| · 2^−scaleExponent on the grid (M, Emin) with no upper bound (see <see cref="MxElementGrid"/>).
    /// <paramref name="absBits"/> is a finite non-negative float32 bit pattern.
    /// </summary>
    internal static int UnboundedMagnitude(uint absBits, int scaleExponent, int m, int emin, MxRounding rounding)
    {
        int field = (int)(absBits >> 23);
        long man = absBits & 0x7FFFFF;
        if (field != 0) man |= 0x800000;
        if (man == 0) return 0;
        int e2 = (field == 0 ? -149 : field - 150) - scaleExponent;  // value = man · 2^e2
        int ey = e2 + (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)man));
        int eq = Math.Max(ey, emin) - m;                              // the grid's quantum is 2^eq
        int drop = eq - e2;
        long n;
        if (drop <= 0) n = man << -drop;
        else if (drop > 40) n = 0;
        else
        {
            long q = man >> drop, rem = man & ((1L << drop) - 1), half = 1L << (drop - 1);
            bool up = rem > half || (rem == half && (rounding == MxRounding.NearestAway || (q & 1) != 0));
            n = q + (up ? 1 : 0);
        }
        long code = ((long)(Math.Max(ey, emin) - emin) << m) + n;
        return (int)Math.Min(code, int.MaxValue);
    }
}
