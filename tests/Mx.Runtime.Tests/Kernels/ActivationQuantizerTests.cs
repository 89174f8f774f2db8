using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

public class ActivationQuantizerTests
{
    /// <summary>
    /// For any row: padding codes are 0; a block with NaN/Inf gets scale 0xFF; an all-zero block scale 0; otherwise the
    /// scale is floor(log2 amax) (OCP floor rule, MXINT8 emax 0) and every code is the round-half-even of v·2^(6−e)
    /// saturated to ±127.
    /// </summary>
    [FsCheck.NUnit.Property(MaxTest = 300)]
    public unsafe bool QuantizedBlocksFollowTheOcpRule(float[] row, bool wideBlocks)
    {
        int bs = wideBlocks ? 64 : 32, k = Math.Max(1, row.Length), nb = (k + bs - 1) / bs;
        float[] a = row.Length == 0 ? [0f] : row;
        var codes = new sbyte[nb * bs];
        var scales = new byte[nb];
        fixed (float* pa = a) fixed (sbyte* q = codes) fixed (byte* s = scales)
            ActivationQuantizer.QuantizeRow(pa, k, bs, q, s);
        for (int j = 0; j < nb; j++)
        {
            var block = a.Skip(j * bs).Take(bs).ToArray();
            if (block.Any(v => !float.IsFinite(v)))
            {
                if (scales[j] != 0xFF) return false;
                continue;
            }
            double amax = block.Max(v => Math.Abs((double)v));
            if (amax == 0) { if (scales[j] != 0) return false; continue; }
            int e = Math.Clamp((int)Math.Floor(Math.Log2(amax)), -127, 127);
            if (scales[j] != e + 127) return false;
            for (int i = 0; i < block.Length; i++)
            {
                double want = Math.Clamp(Math.Round(Math.ScaleB((double)block[i], 6 - e), MidpointRounding.ToEven), -127, 127);
                if (codes[j * bs + i] != want) return false;
            }
        }
        for (int i = k; i < codes.Length; i++)
            if (codes[i] != 0) return false;
        return true;
    }

    /// <summary>The AVX-512 quantizer gives the scalar quantizer's codes and scales bit for bit, edge cases included.</summary>
    [Test]
    public unsafe void FastQuantizerMatchesScalarQuantizer([Values(16, 32, 64)] int bs)
    {
        var rng = new Random(bs);
        float[] special = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon,
            1e-38f, 1e-37f, 2.5f / 64, 3.5f / 64, -2.5f / 64, 127.5f, -127.5f, 1.5f, 0.75f, float.MaxValue, -float.MaxValue, 1.9921875f, 1.99609375f];
        for (int trial = 0; trial < 400; trial++)
        {
            int k = 1 + rng.Next(300);
            var a = new float[k];
            double magnitude = Math.ScaleB(1.0, rng.Next(-140, 128));
            int mode = trial % 4;
            for (int i = 0; i < k; i++)
                a[i] = mode switch
                {
                    0 => (float)(TestPacker.Gaussian(rng) * magnitude),
                    1 => special[rng.Next(special.Length)],
                    2 => rng.Next(4) == 0 ? special[rng.Next(special.Length)] : (float)(TestPacker.Gaussian(rng) * magnitude),
                    _ => (float)Math.ScaleB(rng.Next(-300, 300) / 2.0, -rng.Next(0, 8)),   // many exact half-way codes
                };
            int nb = (k + bs - 1) / bs;
            var q1 = new sbyte[nb * bs]; var s1 = new byte[nb];
            var q2 = new sbyte[nb * bs]; var s2 = new byte[nb];
            q2.AsSpan().Fill(99);
            fixed (float* pa = a) fixed (sbyte* c1 = q1) fixed (byte* p1 = s1) fixed (sbyte* c2 = q2) fixed (byte* p2 = s2)
            {
                ActivationQuantizer.QuantizeRow(pa, k, bs, c1, p1);
                ActivationQuantizer.QuantizeRowFast(pa, k, bs, c2, p2);
            }
            Assert.That(s2, Is.EqualTo(s1).AsCollection, $"scales, trial {trial}");
            Assert.That(q2, Is.EqualTo(q1).AsCollection, $"codes, trial {trial}");
        }
    }
}
