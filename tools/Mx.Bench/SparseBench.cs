using System.Diagnostics;
using System.Text.Json.Serialization;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Kernels.Sparse;

namespace Mx.Bench;

/// <summary>One density of one case: times and ratios against the dense kernels of the same run.</summary>
public sealed record SparseDensityResult(
    [property: JsonPropertyName("density")] double Density,
    [property: JsonPropertyName("active_fraction")] double ActiveFraction,
    [property: JsonPropertyName("median_us")] double MedianUs,
    [property: JsonPropertyName("speedup_vs_dense")] double SpeedupVsDense,
    [property: JsonPropertyName("speedup_vs_kmajor_dense")] double SpeedupVsKMajorDense,
    [property: JsonPropertyName("bit_identical_to_kmajor_dense")] bool BitIdentical);

/// <summary>One (format, mode, K, N) case.</summary>
public sealed record SparseCase(
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("k")] int K,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("dense_us")] double DenseUs,
    [property: JsonPropertyName("dense_implementation")] string DenseImplementation,
    [property: JsonPropertyName("kmajor_dense_us")] double KMajorDenseUs,
    [property: JsonPropertyName("sparse_implementation")] string SparseImplementation,
    [property: JsonPropertyName("densities")] IReadOnlyList<SparseDensityResult> Densities);

/// <summary>
/// The whole run. The headline fields are those of the first case (MXFP4 MX×MX, K = N = 4096 by default):
/// <c>speedup_at_10pct_density</c> and <c>speedup_at_50pct_density</c> (dense row-major time ÷ sparse time), and
/// <c>slowdown_at_full_density</c> (sparse time at 100% density ÷ dense time − 1; negative when faster).
/// </summary>
public sealed record SparseBenchReport(
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("isa")] string Isa,
    [property: JsonPropertyName("speedup_at_10pct_density")] double SpeedupAt10,
    [property: JsonPropertyName("speedup_at_50pct_density")] double SpeedupAt50,
    [property: JsonPropertyName("slowdown_at_full_density")] double SlowdownAtFull,
    [property: JsonPropertyName("cases")] IReadOnlyList<SparseCase> Cases);

/// <summary>Settings of <see cref="SparseBench"/>.</summary>
public sealed class SparseBenchOptions
{
    /// <summary>(K, N) shapes: 4096², then the 1.1 B decoder's MLP (up/gate 2048 → 5632, down 5632 → 2048).</summary>
    public IReadOnlyList<(int K, int N)> Shapes { get; init; } = [(4096, 4096), (2048, 5632), (5632, 2048)];
    /// <summary>Formats.</summary>
    public IReadOnlyList<string> Formats { get; init; } = ["mxfp4_e2m1", "mxint8"];
    /// <summary>Modes (MX×MX first: it sets the headline figures).</summary>
    public IReadOnlyList<MxGemmMode> Modes { get; init; } = [MxGemmMode.MxMx, MxGemmMode.WeightOnly];
    /// <summary>Fractions of K-blocks with non-zero activations (random block masks, seeded).</summary>
    public IReadOnlyList<double> Densities { get; init; } = [1.0, 0.5, 0.25, 0.1];
    /// <summary>Threads (0: one per logical processor).</summary>
    public int Threads { get; init; }
    /// <summary>Time per variant (at least; bounded by 400 calls).</summary>
    public double MinMillis { get; init; } = 300;
}

/// <summary>
/// <c>mx bench sparse</c>: M = 1 MxMatMul over K-major weights with activation block densities of 100/50/25/10%,
/// against the dense row-major kernel and the K-major kernel visiting every block, all in the same run, timed in
/// blocks per variant over three rounds (see <see cref="RoundRobin"/>). Each sparse output is checked bit for bit
/// against the K-major kernel that visits every block (skipping zero blocks must change nothing).
/// </summary>
public static class SparseBench
{
    /// <summary>Runs every case; <paramref name="log"/> gets a line per case.</summary>
    public static SparseBenchReport Run(SparseBenchOptions o, Action<string>? log = null)
    {
        var runner = new ThreadPoolRunner(o.Threads);
        var cases = new List<SparseCase>();
        IsaFeatures isa = IsaFeatures.None;
        foreach (var mode in o.Modes)
            foreach (string f in o.Formats)
                foreach (var (k, n) in o.Shapes)
                {
                    var (c, used) = RunCase(o, MxFormats.Parse(f), mode, k, n, runner);
                    isa |= used;
                    cases.Add(c);
                    log?.Invoke(Describe(c));
                }
        var head = cases[0];
        SparseDensityResult At(double d) => head.Densities.First(r => Math.Abs(r.Density - d) < 1e-9);
        double full = o.Densities.Contains(1.0) ? At(1.0).MedianUs / head.DenseUs - 1 : double.NaN;
        double s10 = o.Densities.Contains(0.1) ? At(0.1).SpeedupVsDense : double.NaN, s50 = o.Densities.Contains(0.5) ? At(0.5).SpeedupVsDense : double.NaN;
        return new SparseBenchReport(runner.DegreeOfParallelism, CpuFeatures.Format(isa), s10, s50, full, cases);
    }

    private static (SparseCase, IsaFeatures) RunCase(SparseBenchOptions o, MxFormat format, MxGemmMode mode, int k, int n, IParallelRunner runner)
    {
        var rng = new Random(k * 131 + n * 7 + format.Id);
        var rowLayout = new MxPackedLayout(format, [n, k], 1, 32);
        var e = new byte[rowLayout.ElementBytes];
        rng.NextBytes(e);
        var s = new byte[rowLayout.ScaleBytes];
        for (int i = 0; i < s.Length; i++) s[i] = (byte)rng.Next(120, 128);
        using var rowWeight = new MxPackedWeight(format, n, k, 32, e, s);
        var dense = new MxMatMulKernel(rowWeight, mode);
        var kl = new MxKMajorLayout(format, n, k, 32);
        var (ke, ks) = kl.FromRowMajor(e, s);
        using var kw = new MxKMajorWeight(kl, ke, ks);
        var sparse = new MxKMajorKernel(kw, mode);
        var all = new MxKMajorKernel(kw, mode, skipZeroBlocks: false);

        var inputs = o.Densities.Select(d => MaskedInput(rng, k, d)).ToArray();
        var yDense = new float[n];
        var ySparse = new float[n];
        var yAll = new float[n];
        // Round-robin: per round, the dense kernels once and each density once.
        var calls = new List<Action>
        {
            () => dense.Run(inputs[0], 1, ReadOnlySpan<float>.Empty, yDense, runner),
            () => all.Run(inputs[0], 1, ReadOnlySpan<float>.Empty, yAll, runner),
        };
        foreach (var a in inputs) calls.Add(() => sparse.Run(a, 1, ReadOnlySpan<float>.Empty, ySparse, runner));
        double[] medians = RoundRobin(calls, o.MinMillis);

        var results = new List<SparseDensityResult>();
        for (int i = 0; i < inputs.Length; i++)
        {
            sparse.Run(inputs[i], 1, ReadOnlySpan<float>.Empty, ySparse, runner);
            all.Run(inputs[i], 1, ReadOnlySpan<float>.Empty, yAll, runner);
            bool same = ySparse.AsSpan().SequenceEqual(yAll);
            results.Add(new SparseDensityResult(o.Densities[i], sparse.ActiveFraction(inputs[i], 1), medians[2 + i],
                medians[0] / medians[2 + i], medians[1] / medians[2 + i], same));
        }
        var c = new SparseCase(format.Name, mode == MxGemmMode.MxMx ? "mx×mx" : "weight-only", k, n, medians[0], dense.Implementation,
            medians[1], sparse.ImplementationFor(1), results);
        return (c, dense.IsaFor(1) | sparse.IsaFor(1));
    }

    /// <summary>Random activations with whole 32-blocks zeroed: each block kept with probability <paramref name="density"/>.</summary>
    private static float[] MaskedInput(Random rng, int k, double density)
    {
        var a = new float[k];
        for (int j = 0; j < (k + 31) / 32; j++)
        {
            if (rng.NextDouble() >= density) continue;
            for (int i = j * 32; i < Math.Min(k, j * 32 + 32); i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return a;
    }

    // Blocks of calls per variant (two warm-up calls, then timed ones), the blocks of all variants in turn, three
    // rounds: each variant's weights are in cache when its block runs (interleaving single calls let the variant called
    // once per round lose its weights from the shared L3 to the others), and the rounds spread the machine's load.
    private static double[] RoundRobin(List<Action> calls, double minMillis)
    {
        var times = calls.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < 3; round++)
            for (int i = 0; i < calls.Count; i++)
            {
                calls[i]();
                calls[i]();
                var block = Stopwatch.StartNew();
                do
                {
                    long t0 = Stopwatch.GetTimestamp();
                    calls[i]();
                    times[i].Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
                }
                while (times[i].Count < 7 * (round + 1) || (block.Elapsed.TotalMilliseconds < minMillis / 3 && times[i].Count < 400));
            }
        return times.Select(t => { t.Sort(); return t[t.Count / 2]; }).ToArray();
    }

    /// <summary>A human-readable block for one case.</summary>
    public static string Describe(SparseCase c)
    {
        var lines = new List<string>
        {
            $"{c.Mode} {c.Format} M=1 K={c.K} N={c.N}: dense row-major {c.DenseUs:F1} µs, K-major every block {c.KMajorDenseUs:F1} µs",
        };
        foreach (var d in c.Densities)
            lines.Add($"  density {d.Density,4:P0} (visited {d.ActiveFraction,4:P0}): {d.MedianUs,9:F1} µs  ×{d.SpeedupVsDense:F2} vs dense, ×{d.SpeedupVsKMajorDense:F2} vs K-major dense{(d.BitIdentical ? "" : "  OUTPUT DIFFERS")}");
        return string.Join(Environment.NewLine, lines);
    }
}
