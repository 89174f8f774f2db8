using System.Diagnostics;
using System.Text.Json.Serialization;
using Mx.Runtime;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Bench;

/// <summary>One timed variant of one GEMM shape, all through ONNX Runtime sessions.</summary>
public sealed record GemmVsOrtVariant(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("median_us")] double MedianUs,
    [property: JsonPropertyName("weight_bytes")] long WeightBytes,
    [property: JsonPropertyName("weight_gbps")] double WeightGBps,
    [property: JsonPropertyName("gflops")] double Gflops,
    [property: JsonPropertyName("check_rel_error")] double CheckRelError,
    [property: JsonPropertyName("speedup_vs_ort_fp32")] double? SpeedupVsOrtFp32 = null,
    [property: JsonPropertyName("speedup_vs_matmulnbits")] double? SpeedupVsMatMulNBits = null,
    [property: JsonPropertyName("speedup_vs_matmulnbits_acc0")] double? SpeedupVsMatMulNBitsAcc0 = null);

/// <summary>All variants of one (M, K, N).</summary>
public sealed record GemmVsOrtCase(
    [property: JsonPropertyName("m")] int M,
    [property: JsonPropertyName("k")] int K,
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("variants")] IReadOnlyList<GemmVsOrtVariant> Variants);

/// <summary>
/// The whole run: the bandwidth probe, every case, and <c>isa</c>: the instruction-set features the timed MX kernels
/// actually executed (comma-separated, <see cref="CpuFeatures.Format"/> names), so a figure says which path it measured.
/// </summary>
public sealed record GemmVsOrtReport(
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("copy_gbps")] double CopyGBps,
    [property: JsonPropertyName("cases")] IReadOnlyList<GemmVsOrtCase> Cases,
    [property: JsonPropertyName("isa")] string Isa,
    [property: JsonPropertyName("isa_detected")] string IsaDetected,
    [property: JsonPropertyName("isa_enabled")] string IsaEnabled);

/// <summary>Settings of <see cref="GemmVsOrt"/>.</summary>
public sealed class GemmVsOrtOptions
{
    /// <summary>Rows of A.</summary>
    public IReadOnlyList<int> Ms { get; init; } = [1, 16, 128];
    /// <summary>(K, N) weight shapes; K must be a multiple of 32 (MatMulNBits blocks).</summary>
    public IReadOnlyList<(int K, int N)> Shapes { get; init; } = [(4096, 4096), (4096, 11008), (11008, 4096)];
    /// <summary>MX format of the MxMatMul variants.</summary>
    public string Format { get; init; } = "mxfp4_e2m1";
    /// <summary>Intra-op threads of every session.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Timed runs per variant (at least; more while under <see cref="MinMillis"/>).</summary>
    public int Repeat { get; init; } = 5;
    /// <summary>Keep timing a variant until this much time was spent (bounded by 200 runs).</summary>
    public double MinMillis { get; init; } = 250;
    /// <summary>Where the model files go (deleted afterwards).</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), $"mx-bench-gemm-{Environment.ProcessId}");
}

/// <summary>
/// <c>mx bench gemm</c>: one process times, through ORT sessions with the same intra-op thread count, ORT's fp32
/// MatMul, ORT's MatMulNBits (4-bit, block 32, accuracy levels 0 and 4), and MxMatMul weight-only and MX×MX, plus a
/// large memory copy as the bandwidth yardstick. Each variant's output is checked against a double-precision
/// reference on a few columns, so every baseline really computes what it claims.
/// </summary>
public static class GemmVsOrt
{
    private const int CheckColumns = 8;

    /// <summary>Runs every shape and M; <paramref name="log"/> gets a line per measurement.</summary>
    public static GemmVsOrtReport Run(GemmVsOrtOptions options, Action<string>? log = null)
    {
        MxFormat format = MxFormats.Parse(options.Format);
        Directory.CreateDirectory(options.WorkDirectory);
        try
        {
            double copy = CopyBandwidth(options);
            log?.Invoke($"memory copy: {copy:F2} GB/s");
            var cases = new List<GemmVsOrtCase>();
            IsaFeatures isa = IsaFeatures.None;
            foreach (var (k, n) in options.Shapes)
            {
                cases.AddRange(RunShape(options, format, k, n, log));
                isa |= KernelIsa.Of(format, k, n, options.Ms);
            }
            return new GemmVsOrtReport(options.Threads, copy, cases, CpuFeatures.Format(isa),
                CpuFeatures.Format(CpuFeatures.Detected), CpuFeatures.Format(CpuFeatures.Enabled));
        }
        finally
        {
            try { Directory.Delete(options.WorkDirectory, recursive: true); } catch (IOException) { }
        }
    }

    private static IEnumerable<GemmVsOrtCase> RunShape(GemmVsOrtOptions o, MxFormat format, int k, int n, Action<string>? log)
    {
        if (k % 32 != 0) throw new ArgumentException($"K = {k} must be a multiple of 32 for the MatMulNBits baseline");
        var rng = new Random(k * 31 + n);
        var q4 = new Q4Weight(rng, n, k);
        var mx = new MxWeight(rng, format, n, k);
        var inputs = o.Ms.ToDictionary(m => m, m => RandomFloats(rng, m * k));
        string dir = o.WorkDirectory;
        var models = new (string Name, string Path, long WeightBytes, Func<float[], int, double[]> Reference)[]
        {
            ("ort-fp32", Save(dir, "fp32", q4.FloatModel()), 4L * k * n, q4.Reference),
            ("matmulnbits-acc0", Save(dir, "nbits0", q4.NBitsModel(0)), q4.Bytes, q4.Reference),
            ("matmulnbits-acc4", Save(dir, "nbits4", q4.NBitsModel(4)), q4.Bytes, q4.Reference),
            ($"mx-weight-only", Save(dir, "mxwo", mx.Model("")), mx.Bytes, mx.Reference),
            ($"mx-mxint8-act", Save(dir, "mxmx", mx.Model("mxint8")), mx.Bytes, mx.Reference),
        };
        var times = new Dictionary<(string, int), (double Us, double Err)>();
        foreach (var (name, path, _, reference) in models)
        {
            using var options = HostTensorSession.CreateOptions(o.Threads);
            // One session alive at a time: ORT's spinning intra-op threads of an idle session would steal CPU.
            using var session = HostTensorSession.FromFile(path, options);
            foreach (int m in o.Ms)
            {
                var feeds = new Dictionary<string, HostTensor> { ["A"] = HostTensor.FromFloats(inputs[m], m, k) };
                string[] outputs = ["Y"];
                float[] y = session.Run(feeds, outputs)[0].AsSpan<float>().ToArray();
                double err = CheckError(y, reference(inputs[m], m), m, n);
                double us = Median(o, () => session.Run(feeds, outputs)) * 1000;
                times[(name, m)] = (us, err);
            }
        }
        // The same kernel called directly (no ORT session): separates kernel time from the custom-op path's overhead.
        using (var direct = mx.Kernel())
        {
            var kernel = new MxMatMulKernel(direct, MxGemmMode.WeightOnly);
            var runner = new ThreadPoolRunner(o.Threads);
            foreach (int m in o.Ms)
            {
                var y = new float[m * n];
                kernel.Run(inputs[m], m, ReadOnlySpan<float>.Empty, y, runner);
                double err = CheckError(y, mx.Reference(inputs[m], m), m, n);
                times[("mx-direct-no-ort", m)] = (Median(o, () => kernel.Run(inputs[m], m, ReadOnlySpan<float>.Empty, y, runner)) * 1000, err);
            }
        }
        models = [.. models, ("mx-direct-no-ort", "", mx.Bytes, mx.Reference)];
        foreach (int m in o.Ms)
        {
            double fp32 = times[("ort-fp32", m)].Us, nb4 = times[("matmulnbits-acc4", m)].Us, nb0 = times[("matmulnbits-acc0", m)].Us;
            var variants = models.Select(v =>
            {
                var (us, err) = times[(v.Name, m)];
                bool ours = v.Name.StartsWith("mx-", StringComparison.Ordinal) && v.Path.Length > 0;
                return new GemmVsOrtVariant(v.Name, us, v.WeightBytes, v.WeightBytes / us / 1e3, 2.0 * m * n * k / us / 1e3, err,
                    ours ? fp32 / us : null, ours ? nb4 / us : null, ours ? nb0 / us : null);
            }).ToList();
            var c = new GemmVsOrtCase(m, k, n, format.Name, variants);
            log?.Invoke(Describe(c));
            yield return c;
        }
        foreach (var model in models)
            if (model.Path.Length > 0) File.Delete(model.Path);
    }

    /// <summary>A human-readable block for one case.</summary>
    public static string Describe(GemmVsOrtCase c)
    {
        var lines = new List<string> { $"M={c.M} K={c.K} N={c.N} ({c.Format})" };
        foreach (var v in c.Variants)
            lines.Add($"  {v.Name,-18} {v.MedianUs,11:F1} µs {v.WeightGBps,7:F2} GB/s {v.Gflops,8:F1} GFLOP/s  check {v.CheckRelError:E1}" +
                (v.SpeedupVsOrtFp32 is { } a ? $"  ×{a:F2} vs fp32, ×{v.SpeedupVsMatMulNBits:F2} vs NBits-acc4, ×{v.SpeedupVsMatMulNBitsAcc0:F2} vs NBits-acc0" : ""));
        return string.Join(Environment.NewLine, lines);
    }

    private static string Save(string dir, string name, BenchModelWriter model)
    {
        string path = Path.Combine(dir, name + ".onnx");
        model.Save(path);
        return path;
    }

    /// <summary>‖got − want‖ / ‖want‖ over the checked columns (the first and last few).</summary>
    private static double CheckError(float[] got, double[] want, int m, int n)
    {
        double num = 0, den = 0;
        for (int r = 0; r < m; r++)
            for (int j = 0; j < CheckColumns; j++)
            {
                int c = CheckedColumn(j, n);
                double d = got[r * n + c] - want[r * CheckColumns + j];
                num += d * d;
                den += want[r * CheckColumns + j] * want[r * CheckColumns + j];
            }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    private static int CheckedColumn(int j, int n) => j < CheckColumns / 2 ? j : n - CheckColumns + j;

    private static double CopyBandwidth(GemmVsOrtOptions o)
    {
        const int bytes = 256 << 20;
        var src = GC.AllocateUninitializedArray<byte>(bytes);
        var dst = GC.AllocateUninitializedArray<byte>(bytes);
        new Random(1).NextBytes(src);
        double ms = Median(o, () => src.AsSpan().CopyTo(dst));
        return bytes / ms / 1e6;
    }

    private static double Median(GemmVsOrtOptions o, Action call)
    {
        call();   // warm-up
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < o.Repeat || (total.Elapsed.TotalMilliseconds < o.MinMillis && times.Count < 200))
        {
            long t0 = Stopwatch.GetTimestamp();
            call();
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    private static float[] RandomFloats(Random rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>A symmetric 4-bit weight in MatMulNBits' layout (zero point 8), and the same values as an fp32 [K, N] MatMul weight.</summary>
    private sealed class Q4Weight
    {
        private readonly byte[] _codes;     // [N, K/32, 16]: element 2j low nibble, 2j+1 high nibble
        private readonly float[] _scales;   // [N · K/32]
        private readonly int _n, _k;

        public Q4Weight(Random rng, int n, int k)
        {
            _n = n;
            _k = k;
            _codes = new byte[(long)n * k / 2];
            rng.NextBytes(_codes);
            _scales = new float[n * (k / 32)];
            for (int i = 0; i < _scales.Length; i++) _scales[i] = (float)(0.01 + 0.02 * rng.NextDouble());
        }

        public long Bytes => _codes.Length + 4L * _scales.Length;

        private float Value(int n, int k)
        {
            byte b = _codes[((long)n * _k + k) / 2];
            int q = (k & 1) == 0 ? b & 15 : b >> 4;
            return (q - 8) * _scales[n * (_k / 32) + k / 32];
        }

        public BenchModelWriter FloatModel() => Header()
            .Initializer("B", 1, [_k, _n], 4L * _k * _n, s =>
            {
                var row = new byte[4 * _n];
                for (int k = 0; k < _k; k++)
                {
                    for (int n = 0; n < _n; n++) BitConverter.TryWriteBytes(row.AsSpan(4 * n), Value(n, k));
                    s.Write(row);
                }
            })
            .Node("MatMul", ["A", "B"], ["Y"], "fp32", "");

        public BenchModelWriter NBitsModel(int accuracyLevel) => Header().Opset("com.microsoft", 1)
            .Initializer("B", 2, [_n, _k / 32, 16], _codes.Length, s => s.Write(_codes))
            .Initializer("scales", 1, [(long)_n * (_k / 32)], 4L * _scales.Length, s => s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_scales.AsSpan())))
            .Node("MatMulNBits", ["A", "B", "scales"], ["Y"], "nbits", "com.microsoft",
                ("K", (long)_k), ("N", (long)_n), ("bits", 4L), ("block_size", 32L), ("accuracy_level", (long)accuracyLevel));

        private BenchModelWriter Header() => new BenchModelWriter().Input("A", 1, "m", (long)_k).Output("Y", 1, "m", (long)_n);

        public double[] Reference(float[] a, int m)
        {
            var y = new double[m * CheckColumns];
            for (int j = 0; j < CheckColumns; j++)
            {
                int c = CheckedColumn(j, _n);
                for (int r = 0; r < m; r++)
                {
                    double s = 0;
                    for (int k = 0; k < _k; k++) s += (double)a[r * _k + k] * Value(c, k);
                    y[r * CheckColumns + j] = s;
                }
            }
            return y;
        }
    }

    /// <summary>Random valid packed MX weight bytes (no fp32 copy), and its reference via the formats library's row decoder.</summary>
    private sealed class MxWeight
    {
        private readonly MxPackedLayout _layout;
        private readonly byte[] _elements, _scales, _micro;

        public MxWeight(Random rng, MxFormat f, int n, int k)
        {
            _layout = new MxPackedLayout(f, [n, k], 1, f.DefaultBlockSize);
            _elements = new byte[_layout.ElementBytes];
            _scales = new byte[_layout.ScaleBytes];
            _micro = new byte[_layout.MicroBytes];
            Fill(rng, f, _elements, _scales, _micro);
        }

        /// <summary>Random codes (FP8 NaN codes avoided) and scales near 2^0.</summary>
        public static void Fill(Random rng, MxFormat f, Span<byte> elements, Span<byte> scales, Span<byte> micro)
        {
            rng.NextBytes(elements);
            if (f.ElementBits == 8 && f.Kind == MxElementKind.Float)
                foreach (ref byte b in elements) b &= 0xBF;
            for (int i = 0; i < scales.Length; i++) scales[i] = (byte)rng.Next(120, 128);
            rng.NextBytes(micro);
        }

        public long Bytes => _elements.Length + _scales.Length + _micro.Length;

        public MxPackedWeight Kernel() => new(_layout.Format, (int)_layout.Rows, _layout.K, _layout.BlockSize, _elements, _scales, _micro);

        public BenchModelWriter Model(string actFormat)
        {
            long n = _layout.Rows, k = _layout.K;
            var w = new BenchModelWriter().Opset(MxOps.DomainName, MxOps.DomainVersion)
                .Input("A", 1, "m", k).Output("Y", 1, "m", n)
                .Initializer("W_e", 2, [n, _layout.RowBytes], _elements.Length, s => s.Write(_elements))
                .Initializer("W_s", 2, [n, _layout.BlocksPerRow], _scales.Length, s => s.Write(_scales));
            string[] inputs = ["A", "W_e", "W_s"];
            if (_micro.Length > 0)
            {
                w.Initializer("W_m", 2, [n, _layout.BlocksPerRow], _micro.Length, s => s.Write(_micro));
                inputs = [.. inputs, "", "W_m"];
            }
            return w.Node("MxMatMul", inputs, ["Y"], "mx", MxOps.DomainName, ("format", _layout.Format.Name),
                ("block_size", (long)_layout.BlockSize), ("K", k), ("N", n), ("act_format", actFormat));
        }

        public double[] Reference(float[] a, int m)
        {
            int k = _layout.K, n = (int)_layout.Rows, nb = _layout.BlocksPerRow, microRow = nb * _layout.MicroBytesPerBlock;
            var y = new double[m * CheckColumns];
            var row = new float[k];
            for (int j = 0; j < CheckColumns; j++)
            {
                int c = CheckedColumn(j, n);
                MxRowCodec.Dequantize(_layout.Format, _elements.AsSpan(c * _layout.RowBytes, _layout.RowBytes), _scales.AsSpan(c * nb, nb),
                    _micro.AsSpan(c * microRow, microRow), _layout.BlockSize, row);
                for (int r = 0; r < m; r++)
                {
                    double s = 0;
                    for (int i = 0; i < k; i++) s += (double)a[r * k + i] * row[i];
                    y[r * CheckColumns + j] = s;
                }
            }
            return y;
        }
    }
}
