using FsProperty = FsCheck.NUnit.PropertyAttribute;
using Mx.Runtime.Formats;

namespace Mx.Runtime.Tests.Formats;

/// <summary>FsCheck properties of the block codec, for every format.</summary>
public class PropertyTests
{
    /// <summary>FsCheck doubles → a block of 32 finite floats of moderate magnitude (so float32 products stay exact).</summary>
    private static float[] Block(double[] raw, int exponent)
    {
        var x = new float[32];
        for (int i = 0; i < x.Length && i < raw.Length; i++)
        {
            double v = double.IsFinite(raw[i]) ? raw[i] : 0;
            x[i] = (float)(Math.Clamp(v, -1e6, 1e6) * Math.ScaleB(1.0, Math.Clamp(exponent, -30, 30) - 20));
        }
        return x;
    }

    private static (byte Scale, byte[] Codes, ulong Micro, float[] Values) Q(MxFormat f, float[] x, MxScaleMode mode = MxScaleMode.Floor)
    {
        byte[] codes = new byte[x.Length];
        byte s = MxBlockReference.Quantize(f, x, codes, mode, MxRounding.NearestEven, out ulong m);
        float[] v = new float[x.Length];
        MxBlockReference.Dequantize(f, codes, s, m, v);
        return (s, codes, m, v);
    }

    /// <summary>Independent grid step of an element value |y| (from the format's fields, not the codec's grid).</summary>
    private static double Step(MxFormat f, double y)
    {
        if (f.Kind == MxElementKind.Int) return Math.ScaleB(1.0, -f.MantissaBits);
        if (f.Kind == MxElementKind.SharedMicroExponent) return Math.ScaleB(1.0, -(f.MantissaBits - 1));
        int emin = 1 - f.ExponentBias;
        int ey = y == 0 ? emin : Math.Max((int)Math.Floor(Math.Log2(y)), emin);
        return Math.ScaleB(1.0, ey - f.MantissaBits);
    }

    [FsProperty(MaxTest = 300)]
    public bool ErrorIsAtMostHalfAStep(double[] raw, int exponent)
    {
        float[] x = Block(raw, exponent);
        foreach (var f in MxFormats.All)
        {
            var (s, _, micro, v) = Q(f, x);
            int e = E8M0.ToExponent(s);
            for (int i = 0; i < x.Length; i++)
            {
                double sub = Math.ScaleB(1.0, e - (int)((micro >> (i / 2)) & 1));
                double y = Math.Abs(x[i]) / sub;
                if (y > f.MaxNormal) continue; // saturated: not in range
                if (Math.Abs(v[i] - (double)x[i]) > 0.5 * Step(f, y) * sub * (1 + 1e-12)) return false;
            }
        }
        return true;
    }

    [FsProperty(MaxTest = 300)]
    public bool QuantizeOfDequantizeIsIdentity(double[] raw, int exponent)
    {
        float[] x = Block(raw, exponent);
        foreach (var f in MxFormats.All)
        {
            var a = Q(f, x);
            var b = Q(f, a.Values);
            if (a.Scale != b.Scale || a.Micro != b.Micro || !a.Codes.SequenceEqual(b.Codes))
                throw new AssertionException($"{f.Name}: scale {a.Scale}/{b.Scale} micro {a.Micro:X}/{b.Micro:X} x=[{string.Join(", ", x.Select(v => v.ToString("R")))}] codes [{string.Join(",", a.Codes)}] vs [{string.Join(",", b.Codes)}]");
        }
        return true;
    }

    [FsProperty(MaxTest = 300)]
    public bool NegationNegatesEveryValue(double[] raw, int exponent)
    {
        float[] x = Block(raw, exponent);
        float[] neg = x.Select(v => -v).ToArray();
        foreach (var f in MxFormats.All)
            foreach (var mode in new[] { MxScaleMode.Floor, MxScaleMode.Ceil, MxScaleMode.Mse })
            {
                var a = Q(f, x, mode);
                var b = Q(f, neg, mode);
                if (a.Scale != b.Scale) return false;
                for (int i = 0; i < x.Length; i++) if (b.Values[i] != -a.Values[i]) return false;
            }
        return true;
    }

    [FsProperty(MaxTest = 300)]
    public bool MonotoneWithinABlock(double[] raw, int exponent)
    {
        float[] x = Block(raw, exponent);
        // MX9/6/4 are excluded: elements of different pairs round on different grids (micro-exponents).
        foreach (var f in MxFormats.All.Where(f => f.Kind != MxElementKind.SharedMicroExponent))
            foreach (var mode in new[] { MxScaleMode.Floor, MxScaleMode.Ceil, MxScaleMode.Mse })
            {
                var v = Q(f, x, mode).Values;
                for (int i = 0; i < x.Length; i++)
                    for (int j = 0; j < x.Length; j++)
                        if (x[i] < x[j] && v[i] > v[j]) return false;
            }
        return true;
    }

    [FsProperty(MaxTest = 200)]
    public bool CeilNeverSaturatesAndMseIsNoWorseThanFloor(double[] raw, int exponent)
    {
        float[] x = Block(raw, exponent);
        foreach (var f in MxFormats.All)
        {
            var c = Q(f, x, MxScaleMode.Ceil);
            double amax = x.Max(v => Math.Abs((double)v));
            if (amax > 0 && amax / Math.ScaleB(1.0, E8M0.ToExponent(c.Scale)) > f.MaxNormal) return false;
            double Err(float[] q) => x.Select((v, i) => (q[i] - (double)v) * (q[i] - (double)v)).Sum();
            if (Err(Q(f, x, MxScaleMode.Mse).Values) > Err(Q(f, x, MxScaleMode.Floor).Values)) return false;
        }
        return true;
    }
}
