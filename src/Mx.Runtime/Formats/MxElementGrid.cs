namespace Mx.Runtime.Formats;

/// <summary>
/// The rounding grid of a format's element magnitudes, derived from <see cref="MxFormat"/> (never stated twice).
/// A magnitude y maps to the integer magnitude code c = ((max(e, Emin) − Emin) · 2^M) + n, where e = floor(log2 y)
/// and n = round(y / 2^(max(e, Emin) − M)). For floats this is exactly the sign-less bit pattern (exponent field, then
/// mantissa; a carry out of the mantissa lands in the exponent field); for integer-like kinds e &lt; Emin always holds in
/// range, so c = n. Codes are monotone in y, so saturation is min(c, MaxMagnitude).
/// </summary>
internal readonly struct MxElementGrid
{
    /// <summary>Fraction bits of the grid (M).</summary>
    public readonly int M;

    /// <summary>Exponent of the smallest normal (floats: 1 − bias; integer-like kinds: 0).</summary>
    public readonly int Emin;

    /// <summary>Largest magnitude code that decodes to the largest finite value.</summary>
    public readonly int MaxMagnitude;

    /// <summary>Sign encoding: true for two's complement (MXINT), false for a sign bit.</summary>
    public readonly bool TwosComplement;

    /// <summary>Whether −0 keeps its sign bit (floats) or becomes code 0 (integer and shared-microexponent kinds).</summary>
    public readonly bool SignedZero;

    public readonly int Bits;

    private static readonly MxElementGrid[] Grids = MxFormats.All.OrderBy(f => f.Id).Select(f => new MxElementGrid(f)).ToArray();

    public static ref readonly MxElementGrid For(MxFormat f) => ref Grids[f.Id - 1];

    private MxElementGrid(MxFormat f)
    {
        Bits = f.ElementBits;
        (M, Emin) = f.Kind switch
        {
            MxElementKind.Float => (f.MantissaBits, 1 - f.ExponentBias),
            MxElementKind.Int => (f.MantissaBits, 0),
            _ => (f.MantissaBits - 1, 0),
        };
        TwosComplement = f.Kind == MxElementKind.Int;
        SignedZero = f.Kind == MxElementKind.Float;
        // The largest positive code whose value is the format's largest finite value (from the one decode table).
        float[] table = MxElementDecoding.Table(f);
        int max = 0;
        for (int c = 0; c < 1 << (Bits - 1); c++)
            if (table[c] == (float)f.MaxNormal) max = c;
        MaxMagnitude = max;
    }
}
