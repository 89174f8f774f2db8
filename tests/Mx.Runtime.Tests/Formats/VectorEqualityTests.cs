using Mx.Runtime.Formats;

namespace Mx.Runtime.Tests.Formats;

/// <summary>The Vector256 paths give the scalar reference's bits over millions of random and adversarial values.</summary>
public class VectorEqualityTests
{
    public static IEnumerable<MxFormat> Formats => MxFormats.All.Where(f => f.Kind != MxElementKind.SharedMicroExponent);

    /// <summary>Random finite floats of every kind plus values on and next to every rounding tie of the format.</summary>
    private static float[] Values(MxFormat format, int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count];
        float[] table = MxElementDecoding.Table(format);
        for (int i = 0; i < count; i++)
        {
            int kind = rng.Next(6);
            float v = kind switch
            {
                0 => BitConverter.Int32BitsToSingle(rng.Next() & 0x7F7FFFFF),             // any finite magnitude
                1 => (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(2, rng.Next(-20, 20)),
                2 => BitConverter.Int32BitsToSingle(rng.Next(0, 0x00800000)),              // float32 subnormal
                _ => Tie(table, rng),                                                      // ties and their neighbours
            };
            x[i] = rng.Next(2) == 0 ? v : -v;
        }
        // Blocks of one binade so ties land on the element grid at the block's scale.
        return x;
    }

    private static float Tie(float[] table, Random rng)
    {
        float a = table[rng.Next(table.Length / 2)], b = table[rng.Next(table.Length / 2)];
        if (!float.IsFinite(a) || !float.IsFinite(b)) return 1f;
        float mid = (a + b) / 2 * MathF.Pow(2, rng.Next(-3, 4));
        int nudge = rng.Next(3) - 1;
        return BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(mid) + nudge);
    }

    [TestCaseSource(nameof(Formats))]
    public void QuantizeMatchesReference(MxFormat format)
    {
        if (!MxVectorCodec.Supports(format, MxScaleMode.Floor)) Assert.Ignore($"no Vector256 quantize path for {format.Name} on this machine");
        int n = format.ElementBits == 4 ? 1 << 20 : 1 << 19;
        int seed = format.Id;
        foreach (var mode in new[] { MxScaleMode.Floor, MxScaleMode.Ceil })
            foreach (var rounding in new[] { MxRounding.NearestEven, MxRounding.NearestAway })
                foreach (int bs in new[] { 8, 16, 32, 64 })
                {
                    int count = mode == MxScaleMode.Floor && rounding == MxRounding.NearestEven && bs == 32 ? n : n / 16;
                    float[] x = Values(format, count + 5, seed++);
                    // A few blocks with NaN / Inf / all zero / negative zero.
                    x[3] = float.NaN; x[40] = float.PositiveInfinity; x[70] = float.NegativeInfinity;
                    Array.Clear(x, 128, 64); x[130] = -0f;
                    var (e1, s1) = Quantize(format, x, bs, mode, rounding, MxCodecPath.Scalar);
                    var (e2, s2) = Quantize(format, x, bs, mode, rounding, MxCodecPath.Vector256);
                    Assert.That(s2, Is.EqualTo(s1), $"{format.Name} {mode} {rounding} bs {bs}: scales");
                    int diff = FirstDiff(e1, e2);
                    Assert.That(diff, Is.EqualTo(-1), $"{format.Name} {mode} {rounding} bs {bs}: element byte {diff}");
                }
    }

    [TestCaseSource(nameof(Formats))]
    public void DequantizeMatchesReference(MxFormat format)
    {
        if (!MxVectorCodec.Supports(format, MxScaleMode.Floor)) Assert.Ignore($"no Vector256 dequantize path for {format.Name} on this machine");
        var rng = new Random(100 + format.Id);
        foreach (int bs in new[] { 8, 16, 32, 64 })
        {
            int k = bs * 4096 + 3;
            int nb = (k + bs - 1) / bs, blockBytes = bs * format.ElementBits / 8;
            byte[] elements = new byte[nb * blockBytes], scales = new byte[nb];
            rng.NextBytes(elements);
            rng.NextBytes(scales);
            float[] a = new float[k], b = new float[k];
            MxRowCodec.Dequantize(format, elements, scales, [], bs, a, MxCodecPath.Scalar);
            MxRowCodec.Dequantize(format, elements, scales, [], bs, b, MxCodecPath.Vector256);
            for (int i = 0; i < k; i++)
                if (!(float.IsNaN(a[i]) && float.IsNaN(b[i])) && BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
                    Assert.Fail($"{format.Name} bs {bs} element {i}: {a[i]:R} vs {b[i]:R}");
        }
        Assert.Pass();
    }

    private static (byte[] Elements, byte[] Scales) Quantize(MxFormat f, float[] x, int bs, MxScaleMode mode, MxRounding r, MxCodecPath path)
    {
        int nb = (x.Length + bs - 1) / bs;
        byte[] e = new byte[nb * bs * f.ElementBits / 8], s = new byte[nb], m = new byte[nb * (f.Kind == MxElementKind.SharedMicroExponent ? bs / 16 : 0)];
        MxRowCodec.Quantize(f, x, bs, e, s, m, mode, r, path);
        return (e, s);
    }

    private static int FirstDiff(byte[] a, byte[] b)
    {
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return i;
        return -1;
    }
}
