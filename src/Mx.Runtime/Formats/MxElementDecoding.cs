namespace Mx.Runtime.Formats;

/// <summary>
/// Element code → value decoding for every MX format (scale not applied). The single definition of what a code means;
/// lookup tables for kernels are built from it.
/// </summary>
public static class MxElementDecoding
{
    private static readonly float[][] Tables = MxFormats.All.OrderBy(f => f.Id).Select(BuildTable).ToArray();

    /// <summary>
    /// The value of element code <paramref name="code"/> (the low <see cref="MxFormat.ElementBits"/> bits are used).
    /// Floats: sign · 2^(e − bias) · (1 + m/2^mbits), subnormals when e = 0; FP8 E4M3 has NaN at S.1111.111 and no Inf;
    /// FP8 E5M2 has ±Inf (e all ones, m = 0) and NaN (e all ones, m ≠ 0); FP6/FP4 have neither.
    /// Integers: two's complement · 2^−mbits. Shared-microexponent formats: sign-magnitude, magnitude · 2^−(mbits−1),
    /// before the pair's micro-exponent is applied.
    /// </summary>
    public static float Decode(MxFormat format, int code) => Table(format)[code & ((1 << format.ElementBits) - 1)];

    /// <summary>All 2^bits decoded values of a format, indexed by code. Shared; do not modify.</summary>
    public static float[] Table(MxFormat format) => Tables[format.Id - 1];

    private static float[] BuildTable(MxFormat f)
    {
        int n = 1 << f.ElementBits;
        var table = new float[n];
        for (int code = 0; code < n; code++)
            table[code] = (float)DecodeExact(f, code);
        return table;
    }

    private static double DecodeExact(MxFormat f, int code)
    {
        int signBit = 1 << (f.ElementBits - 1);
        switch (f.Kind)
        {
            case MxElementKind.Int:
                int v = (code & signBit) != 0 ? code - (1 << f.ElementBits) : code;
                return v * Math.ScaleB(1.0, -f.MantissaBits);
            case MxElementKind.SharedMicroExponent:
                int mag = code & (signBit - 1);
                double m = mag * Math.ScaleB(1.0, -(f.MantissaBits - 1));
                return (code & signBit) != 0 ? -m : m;
            default:
                double sign = (code & signBit) != 0 ? -1 : 1;
                int e = (code >> f.MantissaBits) & ((1 << f.ExponentBits) - 1);
                int mant = code & ((1 << f.MantissaBits) - 1);
                int eMax = (1 << f.ExponentBits) - 1;
                if (f.Name == "mxfp8_e4m3" && e == eMax && mant == (1 << f.MantissaBits) - 1) return double.NaN;
                if (f.Name == "mxfp8_e5m2" && e == eMax) return mant == 0 ? sign * double.PositiveInfinity : double.NaN;
                double frac = mant * Math.ScaleB(1.0, -f.MantissaBits);
                return e == 0
                    ? sign * frac * Math.ScaleB(1.0, 1 - f.ExponentBias)
                    : sign * (1 + frac) * Math.ScaleB(1.0, e - f.ExponentBias);
        }
    }
}
