using System.Runtime.Intrinsics;
using Mx.Runtime.Formats;

namespace Mx.Runtime.Tests.Formats;

/// <summary>
/// The Vector256 paths give the scalar reference's bits (scales, packed elements, micro-exponents, decoded values) over
/// millions of random and adversarial values: every format × block size × scale mode × rounding.
/// </summary>
public class VectorEqualityTests
{
    public static IEnumerable<MxFormat> Formats => MxFormats.All;

    private static int[] BlockSizes(MxFormat f) => f.Kind == MxElementKind.SharedMicroExponent ? [16, 32, 64] : [8, 16, 32, 64];

    /// <summary>
    /// Runs of 64 values (so every block of every size is one kind) of one of these kinds: anything finite mixed with
    /// moderate and subnormal values; ties of the element grid and their float32 neighbours at one scale 2^k (the run
    /// holds ±max · 2^k so the floor scale is k, and the midpoints of halved values are the micro-exponent grid's ties);
    /// exact grid values (MSE candidates that tie); float32 subnormals; values on and next to powers of two (the
    /// micro-exponent threshold and the binade edges). k spans the E8M0 clamps at both ends.
    /// </summary>
    private static float[] Values(MxFormat format, int count, int seed)
    {
        var rng = new Random(seed);
        var x = new float[count];
        float[] table = MxElementDecoding.Table(format);
        float max = (float)format.MaxNormal;
        for (int start = 0; start < count; start += 64)
        {
            int kind = rng.Next(5);
            int k = rng.Next(4) switch
            {
                0 => rng.Next(-150, -115),
                1 => rng.Next(110, 128) - format.Emax,
                _ => rng.Next(-20, 21),
            };
            for (int i = start; i < Math.Min(count, start + 64); i++)
            {
                float v = kind switch
                {
                    0 => rng.Next(3) switch
                    {
                        0 => BitConverter.Int32BitsToSingle(rng.Next() & 0x7F7FFFFF),
                        1 => (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(2, rng.Next(-20, 20)),
                        _ => BitConverter.Int32BitsToSingle(rng.Next(0, 0x00800000)),
                    },
                    1 => MathF.ScaleB(Tie(table, rng), k),
                    2 => MathF.ScaleB(Finite(table, rng), k),
                    3 => BitConverter.Int32BitsToSingle(rng.Next(0, 0x00800000)),
                    _ => Nudge(MathF.ScaleB(1f, k - rng.Next(4)) * (rng.Next(4) == 0 ? 1.5f : 1f), rng),
                };
                x[i] = rng.Next(2) == 0 ? v : -v;
            }
            if (kind is 1 or 2 or 4 && rng.Next(4) != 0) x[start + rng.Next(Math.Min(64, count - start))] = MathF.ScaleB(max, k);
        }
        return x;
    }

    private static float Finite(float[] table, Random rng)
    {
        float a = table[rng.Next(table.Length / 2)];
        return float.IsFinite(a) ? a : 0f;
    }

    private static float Tie(float[] table, Random rng)
    {
        float a = Finite(table, rng), b = Finite(table, rng);
        return Nudge((a + b) / 2 * MathF.Pow(2, rng.Next(-3, 4)), rng);
    }

    private static float Nudge(float v, Random rng) => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) + rng.Next(3) - 1);

    [TestCaseSource(nameof(Formats))]
    public void QuantizeMatchesReference(MxFormat format)
    {
        if (!MxVectorCodec.Supports(format, MxScaleMode.Floor)) Assert.Ignore($"no Vector256 path for {format.Name} on this machine");
        int n = format.ElementBits == 4 ? 1 << 19 : 1 << 18;
        int seed = format.Id * 1000, cases = 0;
        foreach (var mode in new[] { MxScaleMode.Floor, MxScaleMode.Ceil, MxScaleMode.Mse })
            foreach (var rounding in new[] { MxRounding.NearestEven, MxRounding.NearestAway })
                foreach (int bs in BlockSizes(format))
                {
                    bool main = mode == MxScaleMode.Floor && rounding == MxRounding.NearestEven && bs == format.DefaultBlockSize;
                    // A partial last block (scalar) on one rounding, a row ending on a whole block (packing's tail) on the other.
                    int count = (main ? n : n / 8) + (rounding == MxRounding.NearestEven ? 5 : 0);
                    float[] x = Values(format, count, seed++);
                    // A few blocks with NaN / Inf / all zero / negative zero.
                    x[3] = float.NaN; x[70] = float.PositiveInfinity; x[140] = float.NegativeInfinity;
                    Array.Clear(x, 192, 64); x[194] = -0f;
                    var a = Quantize(format, x, bs, mode, rounding, MxCodecPath.Scalar);
                    var b = Quantize(format, x, bs, mode, rounding, MxCodecPath.Vector256);
                    string what = $"{format.Name} {mode} {rounding} bs {bs}";
                    Assert.That(FirstDiff(a.Scales, b.Scales), Is.EqualTo(-1), $"{what}: scale byte");
                    Assert.That(FirstDiff(a.Elements, b.Elements), Is.EqualTo(-1), $"{what}: element byte");
                    Assert.That(FirstDiff(a.Micro, b.Micro), Is.EqualTo(-1), $"{what}: micro byte");
                    cases++;
                }
        Assert.That(cases, Is.EqualTo(3 * 2 * BlockSizes(format).Length));
    }

    [TestCaseSource(nameof(Formats))]
    public void DequantizeMatchesReference(MxFormat format)
    {
        if (!MxVectorCodec.Supports(format, MxScaleMode.Floor)) Assert.Ignore($"no Vector256 path for {format.Name} on this machine");
        var rng = new Random(100 + format.Id);
        int microPerBlock = format.Kind == MxElementKind.SharedMicroExponent ? 1 : 0;
        foreach (int bs in BlockSizes(format))
            foreach (int tail in new[] { 3, 0 })
            {
                int k = bs * 2048 + tail;
                int nb = (k + bs - 1) / bs, blockBytes = bs * format.ElementBits / 8;
                byte[] elements = new byte[nb * blockBytes], scales = new byte[nb], micro = new byte[nb * bs / 16 * microPerBlock];
                rng.NextBytes(elements);
                rng.NextBytes(scales);
                rng.NextBytes(micro);
                float[] a = new float[k], b = new float[k];
                MxRowCodec.Dequantize(format, elements, scales, micro, bs, a, MxCodecPath.Scalar);
                MxRowCodec.Dequantize(format, elements, scales, micro, bs, b, MxCodecPath.Vector256);
                for (int i = 0; i < k; i++)
                    if (!(float.IsNaN(a[i]) && float.IsNaN(b[i])) && BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
                        Assert.Fail($"{format.Name} bs {bs} K {k} element {i}: {a[i]:R} vs {b[i]:R}");
            }
        Assert.Pass();
    }

    [Test]
    public unsafe void RegisterPackingMatchesBitPacking([Values(3, 4, 5, 6, 8)] int bits)
    {
        if (!MxVectorCodec.IsHardwareAccelerated) Assert.Ignore("no AVX2 on this machine");
        var rng = new Random(bits);
        var packer = new MxVectorBits(bits);
        byte[] codes = new byte[8], expected = new byte[bits], packed = new byte[16];
        var lanes = new uint[8];
        for (int t = 0; t < 5000; t++)
        {
            rng.NextBytes(codes);
            for (int i = 0; i < 8; i++) lanes[i] = codes[i];
            MxBitPacking.Pack(codes, expected, bits);
            Array.Clear(packed);
            fixed (byte* p = packed) *(ulong*)p = packer.PackEight(Vector256.Create(lanes));
            Assert.That(packed[..bits], Is.EqualTo(expected), $"pack {bits} bits");
            var back = new uint[8];
            fixed (byte* p = packed) packer.UnpackEight(p).CopyTo(back);
            for (int i = 0; i < 8; i++)
                if (back[i] != (codes[i] & ((1u << bits) - 1))) Assert.Fail($"unpack {bits} bits: lane {i}");
        }
    }

    private static (byte[] Elements, byte[] Scales, byte[] Micro) Quantize(MxFormat f, float[] x, int bs, MxScaleMode mode, MxRounding r, MxCodecPath path)
    {
        int nb = (x.Length + bs - 1) / bs;
        byte[] e = new byte[nb * bs * f.ElementBits / 8], s = new byte[nb], m = new byte[nb * (f.Kind == MxElementKind.SharedMicroExponent ? bs / 16 : 0)];
        MxRowCodec.Quantize(f, x, bs, e, s, m, mode, r, path);
        return (e, s, m);
    }

    private static int FirstDiff(byte[] a, byte[] b)
    {
        for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return i;
        return -1;
    }
}
