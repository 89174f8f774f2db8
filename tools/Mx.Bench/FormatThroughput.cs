using System.Diagnostics;
using Mx.Runtime.Formats;

namespace Mx.Bench;

/// <summary>Throughput of one format, in GB/s of float32 data, and as a fraction of a plain copy of the same bytes.</summary>
/// <param name="Format">Format name.</param>
/// <param name="QuantizeGBps">Quantize + pack: float32 bytes consumed per second / 1e9.</param>
/// <param name="DequantizeGBps">Unpack + dequantize: float32 bytes produced per second / 1e9.</param>
/// <param name="QuantizeVsCopy">QuantizeGBps / copy GB/s.</param>
/// <param name="DequantizeVsCopy">DequantizeGBps / copy GB/s.</param>
/// <param name="Vectorized">Whether the Vector256 path served this format.</param>
public sealed record FormatThroughputResult(string Format, double QuantizeGBps, double DequantizeGBps, double QuantizeVsCopy, double DequantizeVsCopy, bool Vectorized);

/// <summary>The result of <see cref="FormatThroughput.Run"/>.</summary>
/// <param name="Values">float32 values per pass.</param>
/// <param name="BlockSize">Block size used for every format (its default).</param>
/// <param name="CopyGBps">A plain memory copy of the same float32 bytes (Span.CopyTo), measured in the same run.</param>
/// <param name="Results">One row per format.</param>
public sealed record FormatThroughputReport(int Values, string BlockSize, double CopyGBps, IReadOnlyList<FormatThroughputResult> Results);

/// <summary>
/// Single-threaded MX codec benchmark: quantize+pack and unpack+dequantize of every format (default block size,
/// floor scale unless told otherwise, round-half-even) over one long row of Gaussian-like data, beside a memory copy of the same bytes.
/// Each figure is the best of repeated passes within a time budget (the machine may be noisy).
/// </summary>
public static class FormatThroughput
{
    /// <summary>Runs the benchmark on <paramref name="values"/> float32 values per pass, quantizing with <paramref name="scaleMode"/>.</summary>
    public static FormatThroughputReport Run(int values = 1 << 22, double secondsPerCase = 0.4, IEnumerable<MxFormat>? formats = null,
        MxScaleMode scaleMode = MxScaleMode.Floor)
    {
        if (values < 64) throw new ArgumentOutOfRangeException(nameof(values), "use at least 64 values");
        var rng = new Random(1);
        float[] x = new float[values], y = new float[values];
        for (int i = 0; i < values; i++)
            x[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        double bytes = 4.0 * values;
        double copy = bytes / Best(() => x.AsSpan().CopyTo(y), secondsPerCase) / 1e9;
        var results = new List<FormatThroughputResult>();
        foreach (var f in formats ?? MxFormats.All)
        {
            int bs = f.DefaultBlockSize, nb = (values + bs - 1) / bs;
            byte[] e = new byte[nb * bs * f.ElementBits / 8], s = new byte[nb], m = new byte[f.Kind == MxElementKind.SharedMicroExponent ? nb * bs / 16 : 0];
            double q = bytes / Best(() => MxRowCodec.Quantize(f, x, bs, e, s, m, scaleMode), secondsPerCase) / 1e9;
            double d = bytes / Best(() => MxRowCodec.Dequantize(f, e, s, m, bs, y), secondsPerCase) / 1e9;
            // Every format and scale mode has a Vector256 path; MxRowCodec takes it whenever AVX2 is present.
            results.Add(new FormatThroughputResult(f.Name, q, d, q / copy, d / copy, System.Runtime.Intrinsics.X86.Avx2.IsSupported));
        }
        return new FormatThroughputReport(values, "format default (32; 16 for mx9/mx6/mx4)", copy, results);
    }

    private static double Best(Action action, double seconds)
    {
        action(); // warm up (JIT, page faults)
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        int passes = 0;
        while (passes < 3 || (total.Elapsed.TotalSeconds < seconds && passes < 1000))
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            passes++;
        }
        return best;
    }
}
