using System.Diagnostics;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Bench;

/// <summary>One timed kernel configuration (median over repeats).</summary>
/// <param name="Kind">"weight-only", "mx×mx" or "memcpy".</param>
/// <param name="Format">MX format name (empty for memcpy).</param>
/// <param name="M">Rows of A.</param>
/// <param name="K">Reduction length.</param>
/// <param name="N">Output features.</param>
/// <param name="MedianMs">Median wall time of one call, milliseconds.</param>
/// <param name="WeightGBps">Packed weight bytes (elements + scales) / time; for memcpy, bytes copied / time.</param>
/// <param name="Gflops">2·M·N·K / time.</param>
/// <param name="Implementation">The kernel path that ran.</param>
public sealed record GemmBenchResult(string Kind, string Format, int M, int K, int N, double MedianMs, double WeightGBps, double Gflops, string Implementation)
{
    /// <inheritdoc/>
    public override string ToString() => Kind == "memcpy"
        ? $"memcpy {WeightGBps / 1e0:F1} GB/s ({K / 1048576} MiB, {MedianMs:F2} ms)"
        : $"{Kind,-11} {Format,-11} M={M,-4} K={K,-6} N={N,-6} {MedianMs,9:F3} ms {WeightGBps,7:F1} GB/s {Gflops,7:F1} GFLOP/s  [{Implementation}]";
}

/// <summary>Settings of <see cref="GemmBench"/>.</summary>
public sealed class GemmBenchOptions
{
    /// <summary>Formats to time.</summary>
    public IReadOnlyList<string> Formats { get; init; } = ["mxfp4_e2m1", "mxint8"];
    /// <summary>Rows of A.</summary>
    public IReadOnlyList<int> Ms { get; init; } = [1, 16, 128];
    /// <summary>(K, N) weight shapes (LLaMA-7B-like projections).</summary>
    public IReadOnlyList<(int K, int N)> Shapes { get; init; } = [(4096, 4096), (4096, 11008), (11008, 4096)];
    /// <summary>Modes to time.</summary>
    public IReadOnlyList<MxGemmMode> Modes { get; init; } = [MxGemmMode.WeightOnly, MxGemmMode.MxMx];
    /// <summary>Timed calls per configuration (at least; more while under <see cref="MinMillis"/>).</summary>
    public int Repeats { get; init; } = 7;
    /// <summary>Keep repeating until this much time was spent per configuration.</summary>
    public double MinMillis { get; init; } = 300;
    /// <summary>Parallel runner (default: thread pool, one thread per logical processor).</summary>
    public IParallelRunner Runner { get; init; } = ThreadPoolRunner.Default;
    /// <summary>Also time a plain fp32 GEMV (TensorPrimitives.Dot per weight row, same runner) as the M = 1 baseline.</summary>
    public bool Fp32GemvBaseline { get; init; } = true;
    /// <summary>Bytes copied by the memory-bandwidth reference.</summary>
    public int CopyBytes { get; init; } = 256 << 20;
}

/// <summary>
/// Kernel micro-benchmark: weight-only and MX×MX GEMM over random packed weights, plus a large memory copy as the
/// bandwidth yardstick measured in the same run (GEMV at M = 1 should approach it in weight GB/s).
/// </summary>
public static class GemmBench
{
    /// <summary>Runs every configuration of <paramref name="options"/>; <paramref name="log"/> gets each result as it is measured.</summary>
    /// <remarks>
    /// The candidates of one (shape, M) — the fp32 GEMV baseline (M = 1), weight-only and MX×MX — are timed round-robin,
    /// one call each per round, so that they see the same machine load; each reports its median.
    /// </remarks>
    public static IReadOnlyList<GemmBenchResult> Run(GemmBenchOptions? options = null, Action<string>? log = null)
    {
        options ??= new GemmBenchOptions();
        var results = new List<GemmBenchResult>();
        void Add(GemmBenchResult r) { results.Add(r); log?.Invoke(r.ToString()); }
        Add(MemCopy(options));
        var rng = new Random(12345);
        foreach (string name in options.Formats)
        {
            MxFormat f = MxFormats.Parse(name);
            foreach (var (k, n) in options.Shapes)
            {
                using var w = RandomWeight(rng, f, n, k);
                long weightBytes = MxPackedWeight.ElementsLength(f, n, k, f.DefaultBlockSize) + MxPackedWeight.ScalesLength(n, k, f.DefaultBlockSize);
                foreach (int m in options.Ms)
                {
                    var a = new float[m * k];
                    for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
                    var y = new float[m * n];
                    var names = new List<(string Kind, string Format, long Bytes, string Impl)>();
                    var calls = new List<Action>();
                    if (m == 1 && options.Fp32GemvBaseline)
                    {
                        names.Add(("fp32-gemv", "fp32", 4L * n * k, "TensorPrimitives.Dot per row"));
                        calls.Add(Fp32Gemv(options, rng, k, n));
                    }
                    foreach (var mode in options.Modes)
                    {
                        var kernel = new MxMatMulKernel(w, mode);
                        names.Add((mode == MxGemmMode.MxMx ? "mx×mx" : "weight-only", f.Name, weightBytes, kernel.Implementation));
                        calls.Add(() => kernel.Run(a, m, ReadOnlySpan<float>.Empty, y, options.Runner));
                    }
                    double[] ms = MedianInterleaved(options, calls);
                    for (int c = 0; c < calls.Count; c++)
                        Add(new GemmBenchResult(names[c].Kind, names[c].Format, m, k, n, ms[c], names[c].Bytes / ms[c] / 1e6, 2.0 * m * n * k / ms[c] / 1e6, names[c].Impl));
                }
            }
        }
        return results;
    }

    private static GemmBenchResult MemCopy(GemmBenchOptions o)
    {
        var src = GC.AllocateUninitializedArray<byte>(o.CopyBytes);
        var dst = GC.AllocateUninitializedArray<byte>(o.CopyBytes);
        new Random(1).NextBytes(src);
        double ms = MedianInterleaved(o, [() => src.AsSpan().CopyTo(dst)])[0];
        return new GemmBenchResult("memcpy", "", 0, o.CopyBytes, 0, ms, o.CopyBytes / ms / 1e6, 0, "Span.CopyTo");
    }

    // fp32 weights [N, K], one dot product per row: what an unquantized GEMV costs (weight traffic 4 bytes/element).
    private static Action Fp32Gemv(GemmBenchOptions o, Random rng, int k, int n)
    {
        var w = GC.AllocateUninitializedArray<float>(n * k);
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5);
        var a = new float[k];
        for (int i = 0; i < k; i++) a[i] = (float)(rng.NextDouble() - 0.5);
        var y = new float[n];
        int per = Math.Max(16, n / (o.Runner.DegreeOfParallelism * 4));
        return () => o.Runner.For((n + per - 1) / per, i =>
        {
            for (int r = i * per; r < Math.Min(n, (i + 1) * per); r++)
                y[r] = System.Numerics.Tensors.TensorPrimitives.Dot<float>(a, w.AsSpan(r * k, k));
        });
    }

    private static double[] MedianInterleaved(GemmBenchOptions o, IReadOnlyList<Action> calls)
    {
        foreach (var c in calls) c();   // warm-up: JIT, page faults, pool growth
        var times = calls.Select(_ => new List<double>()).ToArray();
        var total = Stopwatch.StartNew();
        while (times[0].Count < o.Repeats || (total.Elapsed.TotalMilliseconds < o.MinMillis * calls.Count && times[0].Count < 1000))
            for (int c = 0; c < calls.Count; c++)
            {
                long t0 = Stopwatch.GetTimestamp();
                calls[c]();
                times[c].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        return times.Select(t => { t.Sort(); return t[t.Count / 2]; }).ToArray();
    }

    /// <summary>Random valid packed data: random codes (NaN codes of FP8 avoided), scales near 2^0.</summary>
    private static MxPackedWeight RandomWeight(Random rng, MxFormat f, int n, int k)
    {
        int bs = f.DefaultBlockSize;
        var elements = new byte[MxPackedWeight.ElementsLength(f, n, k, bs)];
        var scales = new byte[MxPackedWeight.ScalesLength(n, k, bs)];
        var micro = f.Kind == MxElementKind.SharedMicroExponent ? new byte[scales.Length] : [];
        rng.NextBytes(elements);
        if (f.ElementBits == 8 && f.Kind == MxElementKind.Float)
            for (int i = 0; i < elements.Length; i++) elements[i] &= 0xBF;   // clear the top exponent bit: no NaN/Inf codes
        for (int i = 0; i < scales.Length; i++) scales[i] = (byte)rng.Next(120, 134);
        return new MxPackedWeight(f, n, k, bs, elements, scales, micro);
    }
}
