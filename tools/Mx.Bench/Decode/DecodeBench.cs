using Mx.Onnx.Diagnostics;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Ort;
using Mx.TestModels.Decoder;

namespace Mx.Bench.Decode;

/// <summary>Settings of <see cref="DecodeBench"/>.</summary>
public sealed record DecodeBenchOptions
{
    /// <summary>The decoder's shape. Default TinyLlama-1.1B.</summary>
    public DecoderConfig Config { get; init; } = DecoderConfig.TinyLlama;
    /// <summary>How its attention is expressed. Default GroupQueryAttention (the faster on CPU: docs/performance.md, "Decode").</summary>
    public DecoderAttention Attention { get; init; } = DecoderAttention.GroupQueryAttention;
    /// <summary>Prompt tokens (the prefill).</summary>
    public int Prefill { get; init; } = 512;
    /// <summary>Decode steps: each feeds the last token (the first: the prefill's arg-max) and generates the next.</summary>
    public int Tokens { get; init; } = 128;
    /// <summary>Intra-op threads of every session and of the copy yardstick.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>The variants to run, in <see cref="DecodeVariants.All"/> order.</summary>
    public IReadOnlyList<DecodeVariantKind> Variants { get; init; } = DecodeVariants.All;
    /// <summary>Profile one prefill and one decode step of each variant (ORT profiling, in an extra warm run).</summary>
    public bool Profile { get; init; } = true;
    /// <summary>Where the generated and quantized models are kept between runs (see <see cref="DefaultCacheRoot"/>).</summary>
    public string CacheRoot { get; init; } = DefaultCacheRoot();
    /// <summary>The CPU's description for the report.</summary>
    public string Cpu { get; init; } = "unknown";

    /// <summary><c>$MX_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/mx-onnx</c>, else <c>~/.cache/mx-onnx</c> (the temporary folder without a home).</summary>
    public static string DefaultCacheRoot()
    {
        if (Environment.GetEnvironmentVariable("MX_CACHE_DIR") is { Length: > 0 } dir) return dir;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "mx-onnx");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length == 0 ? Path.Combine(Path.GetTempPath(), "mx-onnx") : Path.Combine(home, ".cache", "mx-onnx");
    }

    /// <summary>The folder of this configuration's models: <c>CacheRoot/decode/CONFIG-ATTENTION-gG-vV</c>.</summary>
    public string ModelFolder => Path.Combine(CacheRoot, "decode",
        $"{Config.Name}-{DecoderAttentionNames.Name(Attention)}-g{DecoderModelWriter.GeneratorVersion}-v{DecodeVariants.Version}");
}

/// <summary>
/// <c>mx bench decode</c>: the whole decoder served through ONNX Runtime sessions. Generates the model once (cached),
/// derives the variants of the same weights (<see cref="DecodeVariants"/>), then, in this process, one session at a
/// time and the same intra-op threads for all, runs per variant: a warm-up (prefill + one step), optionally a
/// profiled prefill + step, then the timed prefill of the prompt and the timed greedy decode with the KV cache. Around
/// each session it reads VmRSS. A multi-threaded memory copy measured first is the bandwidth yardstick.
/// </summary>
public static class DecodeBench
{
    private const int ProbeTokens = 32;
    private const int LogitSampleStride = 16;

    /// <summary>Runs the benchmark; <paramref name="log"/> gets a line per step.</summary>
    public static DecodeReport Run(DecodeBenchOptions o, Action<string>? log = null)
    {
        if (o.Prefill < 1 || o.Tokens < 1) throw new ArgumentException("the prompt and the generated tokens must be at least 1");
        if (o.Prefill + o.Tokens > o.Config.MaxPositions)
            throw new ArgumentException($"prompt {o.Prefill} + {o.Tokens} tokens exceed the model's {o.Config.MaxPositions} positions");
        double loadAtStart = LoadAverage();
        var paths = o.Variants.ToDictionary(v => v, v => DecodeVariants.Ensure(v, o.ModelFolder, o.Config, o.Attention, log));
        var prompt = o.Config.Prompt(o.Prefill);

        var probeVariant = o.Variants.Contains(DecodeVariantKind.Fp32) ? DecodeVariantKind.Fp32 : o.Variants[0];
        var (layerRms, logitsRms) = ActivationProbe.Run(paths[probeVariant], o.Config, prompt.Take(Math.Min(ProbeTokens, prompt.Length)).ToList(), o.Threads);
        log?.Invoke($"activation RMS after each layer ({DecodeVariants.Name(probeVariant)}): {string.Join(" ", layerRms.Select(r => r.ToString("F2")))}; logits {logitsRms:F2}");

        double copy = MemoryBandwidth.Copy(o.Threads), read = MemoryBandwidth.Read(o.Threads);
        log?.Invoke($"memory ({o.Threads} threads): copy {copy:F2} GB/s, read {read:F2} GB/s");

        var results = new List<DecodeVariantResult>();
        foreach (var v in o.Variants)
        {
            var r = RunVariant(o, v, paths[v], prompt);
            log?.Invoke($"{r.Name}: load {r.LoadSeconds:F1} s; prefill {o.Prefill} tokens {r.PrefillSeconds:F2} s ({r.PrefillTokensPerSecond:F1} tokens/s); " +
                        $"decode {o.Tokens} tokens {r.DecodeSeconds:F2} s ({r.DecodeTokensPerSecond:F2} tokens/s, {r.WeightGBps:F1} GB/s of weights); RSS +{r.RssGrowthAfterDecodeMiB:F0} MiB ({r.RssVsFilePlusKv:F3}× file + KV)");
            results.Add(r);
        }
        return Summarize(o, results, copy, read, DecodeVariants.Name(probeVariant), layerRms, logitsRms) with { LoadAverage = [loadAtStart, LoadAverage()] };
    }

    // The 1-minute load average (first field of /proc/loadavg); NaN where it cannot be read.
    private static double LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return double.NaN;
        }
    }

    private static DecodeVariantResult RunVariant(DecodeBenchOptions o, DecodeVariantKind v, string path, long[] prompt)
    {
        string name = DecodeVariants.Name(v);
        ReleaseMemory();
        double before = MiB(ProcessMemory.ResidentBytes());
        double anonBefore = MiB(ProcessMemory.AnonymousResidentBytes()), fileBefore = MiB(ProcessMemory.FileResidentBytes());
        bool peak = ProcessMemory.ResetPeak();
        string profileDir = Path.Combine(Path.GetTempPath(), $"mx-bench-decode-{Environment.ProcessId}");
        Directory.CreateDirectory(profileDir);
        try
        {
            using var options = HostTensorSession.CreateOptions(o.Threads);
            if (o.Profile)
            {
                // The prefix first: enabling profiling passes the prefix set at that moment to ORT.
                options.ProfileOutputPathPrefix = Path.Combine(profileDir, name);
                options.EnableProfiling = true;
            }
            var load = Stopwatch.StartNew();
            using var session = new InferenceSession(path, options);
            double loadSeconds = load.Elapsed.TotalSeconds, afterLoad = MiB(ProcessMemory.ResidentBytes());
            using var runner = new DecoderRunner(session, o.Config, o.Prefill + o.Tokens);

            // Warm-up: the arena grows to the prefill's needs and every kernel runs once. Then, when asked, the
            // profiled pair; ending the profile stops profiling, so the timed runs below are not profiled.
            PrefillAndStep(runner, prompt);
            RunProfile? prefillProfile = null, stepProfile = null;
            if (o.Profile)
            {
                PrefillAndStep(runner, prompt);
                string profile = session.EndProfiling();
                var runs = OrtProfileSummary.Read(profile);
                File.Delete(profile);
                if (runs.Count >= 2) (prefillProfile, stepProfile) = (runs[^2], runs[^1]);
            }

            var clock = Stopwatch.StartNew();
            runner.Run(prompt);
            double prefillSeconds = clock.Elapsed.TotalSeconds;
            var prefillArgMax = Enumerable.Range(0, prompt.Length).Select(runner.ArgMax).ToList();
            var sampled = SampledRows(prompt.Length).SelectMany(r => runner.Logits.Slice(r * o.Config.Vocab, o.Config.Vocab).ToArray()).ToArray();
            var tokens = new List<int>(o.Tokens);
            var steps = new double[o.Tokens];
            long next = prefillArgMax[^1];
            clock.Restart();
            for (int i = 0; i < steps.Length; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                runner.Run([next]);
                next = runner.ArgMax(0);
                tokens.Add((int)next);
                steps[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            double decodeSeconds = clock.Elapsed.TotalSeconds;
            double afterDecode = MiB(ProcessMemory.ResidentBytes());
            double anonGrowth = MiB(ProcessMemory.AnonymousResidentBytes()) - anonBefore, fileGrowth = MiB(ProcessMemory.FileResidentBytes()) - fileBefore;
            double? peakGrowth = peak ? MiB(ProcessMemory.PeakResidentBytes()) - before : null;

            long fileBytes = ModelFiles(path).Sum(f => new FileInfo(f).Length);
            long weightBytes = WeightTraffic.PerToken(path);
            double kv = MiB(o.Config.KvCacheBytesPerToken * (long)runner.Length);
            double decodeRate = steps.Length / Math.Max(decodeSeconds, 1e-9);
            Array.Sort(steps);
            return new DecodeVariantResult
            {
                Name = name, FileBytes = fileBytes, WeightBytesPerToken = weightBytes,
                LoadSeconds = loadSeconds, PrefillSeconds = prefillSeconds, PrefillTokensPerSecond = prompt.Length / prefillSeconds,
                DecodeSeconds = decodeSeconds, DecodeTokensPerSecond = decodeRate,
                DecodeStepMsMedian = steps[steps.Length / 2], DecodeStepMsMin = steps[0], WeightGBps = weightBytes * decodeRate / 1e9,
                RssBeforeMiB = before, RssGrowthAfterLoadMiB = afterLoad - before, RssGrowthAfterDecodeMiB = afterDecode - before,
                RssPeakGrowthMiB = peakGrowth, RssAnonGrowthMiB = anonGrowth, RssFileGrowthMiB = fileGrowth, KvCacheMiB = kv, RssVsFilePlusKv = (afterDecode - before) / (MiB(fileBytes) + kv),
                Tokens = tokens, PrefillArgMax = prefillArgMax, SampledLogits = sampled, ProfilePrefill = prefillProfile, ProfileDecodeStep = stepProfile,
            };
        }
        finally
        {
            try { Directory.Delete(profileDir, recursive: true); } catch (IOException) { }
        }
    }

    // What the previous session and the quantizer freed goes back to the OS now, not while the next session is measured
    // (else the next session reuses heap pages that are counted before it starts, and its growth looks smaller).
    private static void ReleaseMemory()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ProcessMemory.TrimNativeHeap();
    }

    // Every LogitSampleStride-th prompt position and the last: enough for a logit error figure without keeping 65 MB per variant.
    private static IEnumerable<int> SampledRows(int count) =>
        Enumerable.Range(0, count).Where(r => r % LogitSampleStride == 0 || r == count - 1);

    private static void PrefillAndStep(DecoderRunner runner, long[] prompt)
    {
        runner.Reset();
        runner.Run(prompt);
        runner.Run([runner.ArgMax(prompt.Length - 1)]);
        runner.Reset();
    }

    /// <summary>The model file and every external data file it names (a variant may share another's data file).</summary>
    private static IEnumerable<string> ModelFiles(string path)
    {
        using var model = Mx.Onnx.OnnxModel.Load(path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var locations = model.Proto.Graph.Initializer.SelectMany(t => t.ExternalData).Where(e => e.Key == "location").Select(e => e.Value).Distinct();
        return locations.Select(l => Path.Combine(folder, l)).Prepend(path).ToList();
    }

    private static DecodeReport Summarize(DecodeBenchOptions o, List<DecodeVariantResult> results, double copy, double read, string probe, double[] layerRms, double logitsRms)
    {
        var byName = results.ToDictionary(r => r.Name);
        byName.TryGetValue(DecodeVariants.Name(DecodeVariantKind.Fp32), out var fp32);
        byName.TryGetValue(DecodeVariants.Name(DecodeVariantKind.MatMulNBits), out var nbits);
        if (fp32 != null)
            for (int i = 0; i < results.Count; i++)
                if (results[i] != fp32) results[i] = WithAgreement(results[i], fp32);
        var mx = results.Where(r => o.Variants.Any(v => DecodeVariants.IsMx(v) && DecodeVariants.Name(v) == r.Name)).ToList();
        var bestDecode = mx.MaxBy(r => r.DecodeTokensPerSecond);
        var bestPrefill = mx.MaxBy(r => r.PrefillTokensPerSecond);
        var isa = KernelIsa.Of(MxFormats.Mxfp4E2M1, o.Config.Hidden, o.Config.Intermediate, [1, o.Prefill]);
        return new DecodeReport
        {
            Config = o.Config.Name, Attention = DecoderAttentionNames.Name(o.Attention), Parameters = o.Config.Parameters, Threads = o.Threads,
            PrefillTokens = o.Prefill, DecodeTokens = o.Tokens, Cpu = o.Cpu, LoadAverage = [],
            Isa = CpuFeatures.Format(isa), IsaDetected = CpuFeatures.Format(CpuFeatures.Detected), IsaEnabled = CpuFeatures.Format(CpuFeatures.Enabled),
            CopyGBps = copy, ReadGBps = read, ProbeVariant = probe, ActivationRms = layerRms, LogitsRms = logitsRms,
            Variants = results,
            DecodeTokensPerSecond = results.ToDictionary(r => r.Name, r => r.DecodeTokensPerSecond),
            PrefillTokensPerSecond = results.ToDictionary(r => r.Name, r => r.PrefillTokensPerSecond),
            BestMxVariant = bestDecode?.Name,
            DecodeSpeedupVsMatMulNBits = bestDecode != null && nbits != null ? bestDecode.DecodeTokensPerSecond / nbits.DecodeTokensPerSecond : null,
            DecodeSpeedupVsFp32 = bestDecode != null && fp32 != null ? bestDecode.DecodeTokensPerSecond / fp32.DecodeTokensPerSecond : null,
            BestMxPrefillVariant = bestPrefill?.Name,
            PrefillSpeedupVsMatMulNBits = bestPrefill != null && nbits != null ? bestPrefill.PrefillTokensPerSecond / nbits.PrefillTokensPerSecond : null,
            WeightBandwidthFraction = bestDecode != null ? bestDecode.WeightGBps / copy : null,
            WeightReadFraction = bestDecode != null ? bestDecode.WeightGBps / read : null,
            GreedyAgreementVsFp32 = results.Where(r => r.GreedyAgreementVsFp32 != null).ToDictionary(r => r.Name, r => r.GreedyAgreementVsFp32!.Value),
            MxRssVsFilePlusKv = bestDecode?.RssVsFilePlusKv,
        };
    }

    private static DecodeVariantResult WithAgreement(DecodeVariantResult r, DecodeVariantResult fp32)
    {
        int n = Math.Min(r.Tokens.Count, fp32.Tokens.Count);
        int same = Enumerable.Range(0, n).Count(i => r.Tokens[i] == fp32.Tokens[i]);
        int prefix = Enumerable.Range(0, n).TakeWhile(i => r.Tokens[i] == fp32.Tokens[i]).Count();
        int m = Math.Min(r.PrefillArgMax.Count, fp32.PrefillArgMax.Count);
        double top1 = m == 0 ? 0 : Enumerable.Range(0, m).Count(i => r.PrefillArgMax[i] == fp32.PrefillArgMax[i]) / (double)m;
        double num = 0, den = 0;
        for (int i = 0; i < Math.Min(r.SampledLogits.Length, fp32.SampledLogits.Length); i++)
        {
            double d = r.SampledLogits[i] - (double)fp32.SampledLogits[i];
            num += d * d;
            den += (double)fp32.SampledLogits[i] * fp32.SampledLogits[i];
        }
        return r with
        {
            GreedyAgreementVsFp32 = n == 0 ? 0 : same / (double)n, GreedyPrefixVsFp32 = prefix, PrefillTop1AgreementVsFp32 = top1,
            PrefillLogitsRelErrorVsFp32 = den > 0 ? Math.Sqrt(num / den) : null,
        };
    }

    private static double MiB(long bytes) => bytes < 0 ? double.NaN : bytes / 1048576.0;
}
