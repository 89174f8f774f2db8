using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>A packed weight built by <see cref="TestPacker"/>, with its test-side dequantization.</summary>
internal sealed class PackedData
{
    public required MxFormat Format { get; init; }
    public required int N { get; init; }
    public required int K { get; init; }
    public required int BlockSize { get; init; }
    public required byte[] Elements { get; init; }
    public required byte[] Scales { get; init; }
    public required byte[] Micro { get; init; }
    /// <summary>[N, K] values the packed data means (decode table · micro · 2^(scale − 127)), computed here, not by the kernels.</summary>
    public required double[] Dequantized { get; init; }

    public MxPackedWeight View() => new(Format, N, K, BlockSize, Elements, Scales, Micro);
}

/// <summary>
/// Test-only scalar packer for the docs/packed-layout.md layout: floor scale rule, element = nearest representable
/// value of the decode table (first minimum), LSB-first bit packing, padding codes 0. Valid data, not OCP-exact rounding.
/// </summary>
internal static class TestPacker
{
    public static PackedData Pack(MxFormat f, float[] w, int n, int k, int bs)
    {
        float[] table = MxElementDecoding.Table(f);
        int bits = f.ElementBits, nb = (k + bs - 1) / bs, rowBytes = nb * bs * bits / 8;
        bool sme = f.Kind == MxElementKind.SharedMicroExponent;
        var elements = new byte[n * rowBytes];
        var scales = new byte[n * nb];
        var micro = sme ? new byte[n * nb] : [];
        var deq = new double[n * k];
        for (int r = 0; r < n; r++)
            for (int j = 0; j < nb; j++)
            {
                int k0 = j * bs, len = Math.Min(bs, k - k0);
                double amax = 0;
                for (int i = 0; i < len; i++) amax = Math.Max(amax, Math.Abs(w[r * k + k0 + i]));
                if (amax == 0) continue;   // scale byte 0, codes 0
                int e = Math.Clamp(Math.ILogB(amax) - f.Emax, -127, 127);
                scales[r * nb + j] = (byte)(e + 127);
                double x = Math.ScaleB(1.0, e);
                for (int i = 0; i < len; i++)
                {
                    double v = w[r * k + k0 + i] / x;
                    double sub = 1;
                    if (sme)
                    {
                        int p0 = k0 + (i & ~1);
                        double pairMax = Math.Max(Math.Abs(w[r * k + p0]), p0 + 1 < k ? Math.Abs(w[r * k + p0 + 1]) : 0) / x;
                        if (pairMax <= f.MaxNormal / 2) { sub = 0.5; micro[r * nb + j] |= (byte)(1 << (i >> 1)); }
                    }
                    int code = Nearest(table, v / sub);
                    Put(elements, r * rowBytes + j * bs * bits / 8, i, bits, code);
                    deq[r * k + k0 + i] = table[code] * sub * x;
                }
            }
        return new PackedData { Format = f, N = n, K = k, BlockSize = bs, Elements = elements, Scales = scales, Micro = micro, Dequantized = deq };
    }

    private static int Nearest(float[] table, double v)
    {
        int best = 0;
        double bestErr = double.PositiveInfinity;
        for (int c = 0; c < table.Length; c++)
        {
            if (!float.IsFinite(table[c])) continue;
            double err = Math.Abs(table[c] - v);
            if (err < bestErr) { bestErr = err; best = c; }
        }
        return best;
    }

    private static void Put(byte[] dst, int blockStart, int i, int bits, int code)
    {
        int bit = i * bits;
        for (int b = 0; b < bits; b++, bit++)
            if (((code >> b) & 1) != 0) dst[blockStart + (bit >> 3)] |= (byte)(1 << (bit & 7));
    }

    /// <summary>Gaussian values whose magnitude varies from block to block (exercises many scales).</summary>
    public static float[] RandomMatrix(Random rng, int rows, int cols, int bs = 32)
    {
        var m = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                if (c % bs == 0) rng.NextDouble();
                double mag = Math.Pow(2, ((r * 7 + c / bs * 3) % 9) - 4);
                m[r * cols + c] = (float)(Gaussian(rng) * mag);
            }
        return m;
    }

    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
