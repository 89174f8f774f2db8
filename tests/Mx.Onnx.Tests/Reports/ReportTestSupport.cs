using Mx.Runtime;
using Mx.Runtime.IO;

namespace Mx.Onnx.Tests.Reports;

/// <summary>Temporary folders, random samples and independent metric computations for the report tests.</summary>
internal static class ReportTestSupport
{
    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mx-report-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Writes <c>name.npy</c> with <paramref name="samples"/> rows of <paramref name="width"/> uniform values in [-2, 2).</summary>
    public static string WriteSamples(string dir, string name, int samples, int width, int seed)
    {
        var rng = new Random(seed);
        var values = new float[samples * width];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 4 - 2);
        string path = Path.Combine(dir, name + ".npy");
        NpyFile.Write(path, HostTensor.FromFloats(values, samples, width));
        return path;
    }

    /// <summary>10·log10(Σx² / Σ(q − x)²), written out here rather than taken from the library.</summary>
    public static double Sqnr(float[] x, float[] q)
    {
        double signal = 0, noise = 0;
        for (int i = 0; i < x.Length; i++)
        {
            signal += (double)x[i] * x[i];
            noise += ((double)q[i] - x[i]) * ((double)q[i] - x[i]);
        }
        return 10 * Math.Log10(signal / noise);
    }

    public static int ArgMax(float[] v, int offset, int n)
    {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
        return best;
    }

    public static double Kl(float[] p, float[] q, int offset, int n)
    {
        double[] sp = Softmax(p, offset, n), sq = Softmax(q, offset, n);
        double kl = 0;
        for (int i = 0; i < n; i++) if (sp[i] > 0) kl += sp[i] * Math.Log(sp[i] / sq[i]);
        return kl;
    }

    private static double[] Softmax(float[] v, int offset, int n)
    {
        double max = v.Skip(offset).Take(n).Max();
        double[] e = Enumerable.Range(0, n).Select(i => Math.Exp(v[offset + i] - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }
}
