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
