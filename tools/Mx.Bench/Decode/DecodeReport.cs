using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;

namespace Mx.Bench.Decode;

/// <summary>What one variant measured in <c>mx bench decode</c>.</summary>
public sealed record DecodeVariantResult
{
    /// <summary>The variant's name (see <see cref="DecodeVariants.Name"/>).</summary>
    [JsonPropertyName("name")] public required string Name { get; init; }
    /// <summary>Bytes of the model's files (.onnx and its data file).</summary>
    [JsonPropertyName("file_bytes")] public required long FileBytes { get; init; }
    /// <summary>Bytes of matrix-product weights one token reads (<see cref="WeightTraffic"/>).</summary>
    [JsonPropertyName("weight_bytes_per_token")] public required long WeightBytesPerToken { get; init; }
    /// <summary>Session creation, seconds.</summary>
    [JsonPropertyName("load_seconds")] public required double LoadSeconds { get; init; }
    /// <summary>The timed prefill of the prompt, seconds.</summary>
    [JsonPropertyName("prefill_seconds")] public required double PrefillSeconds { get; init; }
    /// <summary>Prompt tokens / prefill seconds.</summary>
    [JsonPropertyName("prefill_tokens_per_s")] public required double PrefillTokensPerSecond { get; init; }
    /// <summary>The timed greedy decode (every step: one Run with the KV cache and the arg-max), seconds.</summary>
    [JsonPropertyName("decode_seconds")] public required double DecodeSeconds { get; init; }
    /// <summary>Generated tokens / decode seconds.</summary>
    [JsonPropertyName("decode_tokens_per_s")] public required double DecodeTokensPerSecond { get; init; }
    /// <summary>Median time of one decode step, ms.</summary>
    [JsonPropertyName("decode_step_ms_median")] public required double DecodeStepMsMedian { get; init; }
    /// <summary>Fastest decode step, ms (against the median: how much other load slowed the run).</summary>
    [JsonPropertyName("decode_step_ms_min")] public required double DecodeStepMsMin { get; init; }
    /// <summary>Weight bytes per token × decode tokens/s, GB/s (10⁹ bytes).</summary>
    [JsonPropertyName("weight_gbps")] public required double WeightGBps { get; init; }
    /// <summary>VmRSS before the session was created, MiB.</summary>
    [JsonPropertyName("rss_before_mib")] public required double RssBeforeMiB { get; init; }
    /// <summary>VmRSS growth from before session creation to after it, MiB.</summary>
    [JsonPropertyName("rss_growth_after_load_mib")] public required double RssGrowthAfterLoadMiB { get; init; }
    /// <summary>VmRSS growth from before session creation to after the timed decode (session, KV cache and last outputs alive), MiB: the serving RSS.</summary>
    [JsonPropertyName("rss_growth_after_decode_mib")] public required double RssGrowthAfterDecodeMiB { get; init; }
    /// <summary>Peak VmRSS (VmHWM, reset before session creation) minus <see cref="RssBeforeMiB"/>, MiB; null where the peak cannot be reset.</summary>
    [JsonPropertyName("rss_peak_growth_mib")] public double? RssPeakGrowthMiB { get; init; }
    /// <summary>The anonymous part of <see cref="RssGrowthAfterDecodeMiB"/> (ORT's arena and prepacked weights, KV cache, outputs), MiB.</summary>
    [JsonPropertyName("rss_anon_growth_mib")] public required double RssAnonGrowthMiB { get; init; }
    /// <summary>The file-backed part of <see cref="RssGrowthAfterDecodeMiB"/> (mapped weight pages the session touched), MiB.</summary>
    [JsonPropertyName("rss_file_growth_mib")] public required double RssFileGrowthMiB { get; init; }
    /// <summary>The KV cache at the end of the decode (prompt + generated tokens), MiB.</summary>
    [JsonPropertyName("kv_cache_mib")] public required double KvCacheMiB { get; init; }
    /// <summary><see cref="RssGrowthAfterDecodeMiB"/> / (file bytes + KV cache).</summary>
    [JsonPropertyName("rss_vs_file_plus_kv")] public required double RssVsFilePlusKv { get; init; }
    /// <summary>The tokens the decode steps generated (the first step fed the prefill's arg-max).</summary>
    [JsonPropertyName("tokens")] public required IReadOnlyList<int> Tokens { get; init; }
    /// <summary>Fraction of the generated tokens equal to fp32's at the same position (both decode greedily on their own); null without fp32.</summary>
    [JsonPropertyName("greedy_agreement_vs_fp32")] public double? GreedyAgreementVsFp32 { get; init; }
    /// <summary>Generated tokens before the first that differs from fp32's; null without fp32.</summary>
    [JsonPropertyName("greedy_prefix_vs_fp32")] public int? GreedyPrefixVsFp32 { get; init; }
    /// <summary>Fraction of prompt positions whose arg-max logit equals fp32's (same inputs, no divergence); null without fp32.</summary>
    [JsonPropertyName("prefill_top1_agreement_vs_fp32")] public double? PrefillTop1AgreementVsFp32 { get; init; }
    /// <summary>‖logits − fp32's‖ / ‖fp32's‖ over every 16th prompt position and the last; null without fp32.</summary>
    [JsonPropertyName("prefill_logits_rel_error_vs_fp32")] public double? PrefillLogitsRelErrorVsFp32 { get; init; }
    /// <summary>Per op type time of the profiled prefill (ORT profiling; null with <c>--no-profile</c>).</summary>
    [JsonPropertyName("profile_prefill")] public RunProfile? ProfilePrefill { get; init; }
    /// <summary>Per op type time of one profiled decode step after the prefill.</summary>
    [JsonPropertyName("profile_decode_step")] public RunProfile? ProfileDecodeStep { get; init; }
    /// <summary>The prompt positions' arg-max logits (not written: they feed the agreement figures).</summary>
    [JsonIgnore] public IReadOnlyList<int> PrefillArgMax { get; init; } = [];
    /// <summary>The logits of the sampled prompt positions (not written: they feed <see cref="PrefillLogitsRelErrorVsFp32"/>).</summary>
    [JsonIgnore] public float[] SampledLogits { get; init; } = [];
}

/// <summary>The whole <c>mx bench decode</c> run. The top-level ratio fields use the best MX variant for each.</summary>
public sealed record DecodeReport
{
    [JsonPropertyName("config")] public required string Config { get; init; }
    [JsonPropertyName("attention")] public required string Attention { get; init; }
    [JsonPropertyName("parameters")] public required long Parameters { get; init; }
    [JsonPropertyName("threads")] public required int Threads { get; init; }
    [JsonPropertyName("prefill_tokens")] public required int PrefillTokens { get; init; }
    [JsonPropertyName("decode_tokens")] public required int DecodeTokens { get; init; }
    [JsonPropertyName("cpu")] public required string Cpu { get; init; }
    /// <summary>/proc/loadavg's 1-minute load when the run started and ended: other work on the machine, which slows every figure.</summary>
    [JsonPropertyName("load_average")] public required IReadOnlyList<double> LoadAverage { get; init; }
    /// <summary>The instruction-set features the MX kernels of this model executed (M = 1 and M = prompt), <c>mx bench gemm</c>'s names.</summary>
    [JsonPropertyName("isa")] public required string Isa { get; init; }
    [JsonPropertyName("isa_detected")] public required string IsaDetected { get; init; }
    [JsonPropertyName("isa_enabled")] public required string IsaEnabled { get; init; }
    /// <summary>Memory copy with the sessions' thread count, GB/s (<see cref="MemoryBandwidth"/>).</summary>
    [JsonPropertyName("copy_gbps")] public required double CopyGBps { get; init; }
    /// <summary>Memory read with the sessions' thread count, GB/s (<see cref="MemoryBandwidth.Read"/>).</summary>
    [JsonPropertyName("read_gbps")] public required double ReadGBps { get; init; }
    /// <summary>The model the activation probe ran (fp32 when it is among the variants).</summary>
    [JsonPropertyName("activation_probe_variant")] public required string ProbeVariant { get; init; }
    /// <summary>RMS of the residual stream after each layer over the probe prompt.</summary>
    [JsonPropertyName("activation_rms_per_layer")] public required IReadOnlyList<double> ActivationRms { get; init; }
    /// <summary>RMS of the logits over the probe prompt.</summary>
    [JsonPropertyName("logits_rms")] public required double LogitsRms { get; init; }
    [JsonPropertyName("variants")] public required IReadOnlyList<DecodeVariantResult> Variants { get; init; }
    [JsonPropertyName("decode_tokens_per_s")] public required IReadOnlyDictionary<string, double> DecodeTokensPerSecond { get; init; }
    [JsonPropertyName("prefill_tokens_per_s")] public required IReadOnlyDictionary<string, double> PrefillTokensPerSecond { get; init; }
    /// <summary>The MX variant with the most decode tokens/s (the decode ratios and the bandwidth fraction are its).</summary>
    [JsonPropertyName("best_mx_variant")] public string? BestMxVariant { get; init; }
    [JsonPropertyName("decode_speedup_vs_matmulnbits")] public double? DecodeSpeedupVsMatMulNBits { get; init; }
    [JsonPropertyName("decode_speedup_vs_fp32")] public double? DecodeSpeedupVsFp32 { get; init; }
    /// <summary>The MX variant with the most prefill tokens/s.</summary>
    [JsonPropertyName("best_mx_prefill_variant")] public string? BestMxPrefillVariant { get; init; }
    [JsonPropertyName("prefill_speedup_vs_matmulnbits")] public double? PrefillSpeedupVsMatMulNBits { get; init; }
    /// <summary>Best MX variant: weight bytes per token × tokens/s ÷ <see cref="CopyGBps"/>.</summary>
    [JsonPropertyName("weight_bandwidth_fraction")] public double? WeightBandwidthFraction { get; init; }
    /// <summary>Best MX variant: weight bytes per token × tokens/s ÷ <see cref="ReadGBps"/> (the read-only yardstick).</summary>
    [JsonPropertyName("weight_read_fraction")] public double? WeightReadFraction { get; init; }
    [JsonPropertyName("greedy_agreement_vs_fp32")] public required IReadOnlyDictionary<string, double> GreedyAgreementVsFp32 { get; init; }
    /// <summary>Best MX variant's RSS after decode ÷ (its files + KV cache); the serving-memory target is ≤ 1.15.</summary>
    [JsonPropertyName("mx_rss_vs_file_plus_kv")] public double? MxRssVsFilePlusKv { get; init; }

    /// <summary>The human-readable summary: a table of the variants, the ratios, and each variant's profiles.</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        void Line(string s) => sb.AppendLine(s);
        Line(string.Create(CultureInfo.InvariantCulture, $"decoder {Config} ({Parameters / 1e6:F1} M parameters, attention {Attention}), {Threads} threads, prompt {PrefillTokens}, {DecodeTokens} generated tokens; {Cpu}"));
        Line(string.Create(CultureInfo.InvariantCulture, $"memory copy {CopyGBps:F2} GB/s, read {ReadGBps:F2} GB/s; MX kernels: {Isa}; load average at start and end {string.Join(" / ", LoadAverage.Select(l => l.ToString("F2", CultureInfo.InvariantCulture)))}"));
        Line(string.Create(CultureInfo.InvariantCulture, $"activation RMS after each layer ({ProbeVariant}): {string.Join(" ", ActivationRms.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)))}; logits {LogitsRms:F2}"));
        Line($"{"variant",-24} {"file MiB",9} {"W MB/tok",9} {"prefill tok/s",14} {"decode tok/s",13} {"step ms med/min",16} {"W GB/s",7} {"RSS+ MiB",8} {"RSS/(file+KV)",14} {"greedy=fp32",12} {"prefill top1",13} {"logits err",11}");
        foreach (var v in Variants)
            Line(string.Create(CultureInfo.InvariantCulture,
                $"{v.Name,-24} {v.FileBytes / 1048576.0,9:F1} {v.WeightBytesPerToken / 1e6,9:F1} {v.PrefillTokensPerSecond,14:F2} {v.DecodeTokensPerSecond,13:F2} {$"{v.DecodeStepMsMedian:F1}/{v.DecodeStepMsMin:F1}",16} {v.WeightGBps,7:F2} {v.RssGrowthAfterDecodeMiB,8:F0} {v.RssVsFilePlusKv,14:F3} {Fraction(v.GreedyAgreementVsFp32),12} {Fraction(v.PrefillTop1AgreementVsFp32),13} {Fraction(v.PrefillLogitsRelErrorVsFp32),11}"));
        Line(string.Create(CultureInfo.InvariantCulture,
            $"best MX decode ({BestMxVariant ?? "none"}): ×{Ratio(DecodeSpeedupVsMatMulNBits)} vs MatMulNBits, ×{Ratio(DecodeSpeedupVsFp32)} vs fp32, weight bandwidth fraction {Ratio(WeightBandwidthFraction)} of the copy, {Ratio(WeightReadFraction)} of the read; " +
            $"best MX prefill ({BestMxPrefillVariant ?? "none"}): ×{Ratio(PrefillSpeedupVsMatMulNBits)} vs MatMulNBits; MX RSS/(file+KV) {Ratio(MxRssVsFilePlusKv)}"));
        foreach (var v in Variants.Where(v => v.ProfilePrefill != null))
        {
            Line($"profile {v.Name}:");
            Line(OrtProfileSummary.Describe($"prefill of {PrefillTokens}", v.ProfilePrefill!));
            Line(OrtProfileSummary.Describe("decode step", v.ProfileDecodeStep!));
        }
        return sb.ToString();
    }

    private static string Fraction(double? f) => f is { } x ? x.ToString("F3", CultureInfo.InvariantCulture) : "-";

    private static string Ratio(double? r) => r is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
}
