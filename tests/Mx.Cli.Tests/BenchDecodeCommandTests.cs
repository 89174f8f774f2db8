using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Mx.Bench.Decode;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;
using Mx.Runtime.Ort;
using Mx.TestModels.Decoder;

namespace Mx.Cli.Tests;

/// <summary>
/// <c>mx bench decode</c> on the tiny decoder: every variant runs, the JSON carries the issue's fields and they agree
/// with the per-variant figures; the runner's cached decoding is a full re-run's greedy decoding; the MX×MX copy is
/// what the quantizer writes with an MXINT8 activation format.
/// </summary>
public class BenchDecodeCommandTests : CliTest
{
    [Test]
    public void TinyConfig_JsonHasEveryVariantAndTheRatios()
    {
        string cache = TempPath("cache");
        var (code, output, err) = Mx("bench", "decode", "--config", "tiny", "--prefill", "16", "--tokens", "8", "--threads", "1", "--cache-dir", cache, "--json");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(err, Does.Contain("generating tiny"));
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var variants = root.GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.That(variants.Keys, Is.EquivalentTo(new[] { "mxfp4-mxint8", "mxfp4-weight-only", "matmulnbits-int4-acc4", "fp32" }));
        foreach (var (name, v) in variants)
        {
            Assert.That(v.GetProperty("decode_tokens_per_s").GetDouble(), Is.GreaterThan(0), name);
            Assert.That(v.GetProperty("prefill_tokens_per_s").GetDouble(), Is.EqualTo(16 / v.GetProperty("prefill_seconds").GetDouble()).Within(1e-6).Percent, name);
            Assert.That(v.GetProperty("tokens").GetArrayLength(), Is.EqualTo(8), name);
            Assert.That(root.GetProperty("decode_tokens_per_s").GetProperty(name).GetDouble(), Is.EqualTo(v.GetProperty("decode_tokens_per_s").GetDouble()), name);
            Assert.That(root.GetProperty("prefill_tokens_per_s").GetProperty(name).GetDouble(), Is.EqualTo(v.GetProperty("prefill_tokens_per_s").GetDouble()), name);
            Assert.That(v.GetProperty("kv_cache_mib").GetDouble(), Is.EqualTo(DecoderConfig.Tiny.KvCacheBytesPerToken * 24 / 1048576.0).Within(1e-9), name);
            var ops = v.GetProperty("profile_decode_step").GetProperty("ops").EnumerateArray().Select(o => o.GetProperty("op").GetString()).ToList();
            Assert.That(ops, Does.Contain(name.StartsWith("mxfp4") ? "MxMatMul" : name.StartsWith("matmulnbits") ? "MatMulNBits" : "MatMul"), name);
            Assert.That(ops, Does.Contain("GroupQueryAttention"), name);
        }
        // fp32 agrees with itself by definition and is not listed; the others are fractions.
        var agreement = root.GetProperty("greedy_agreement_vs_fp32");
        Assert.That(agreement.EnumerateObject().Select(p => p.Name), Is.EquivalentTo(new[] { "mxfp4-mxint8", "mxfp4-weight-only", "matmulnbits-int4-acc4" }));
        Assert.That(agreement.EnumerateObject().Select(p => p.Value.GetDouble()), Has.All.InRange(0.0, 1.0));

        // The top-level ratios are those of the best MX variant.
        string best = root.GetProperty("best_mx_variant").GetString()!;
        double Rate(string v, string field) => variants[v].GetProperty(field).GetDouble();
        Assert.That(Rate(best, "decode_tokens_per_s"), Is.EqualTo(Math.Max(Rate("mxfp4-mxint8", "decode_tokens_per_s"), Rate("mxfp4-weight-only", "decode_tokens_per_s"))));
        Assert.That(root.GetProperty("decode_speedup_vs_matmulnbits").GetDouble(), Is.EqualTo(Rate(best, "decode_tokens_per_s") / Rate("matmulnbits-int4-acc4", "decode_tokens_per_s")).Within(1e-9).Percent);
        Assert.That(root.GetProperty("decode_speedup_vs_fp32").GetDouble(), Is.EqualTo(Rate(best, "decode_tokens_per_s") / Rate("fp32", "decode_tokens_per_s")).Within(1e-9).Percent);
        string bestPrefill = root.GetProperty("best_mx_prefill_variant").GetString()!;
        Assert.That(root.GetProperty("prefill_speedup_vs_matmulnbits").GetDouble(), Is.EqualTo(Rate(bestPrefill, "prefill_tokens_per_s") / Rate("matmulnbits-int4-acc4", "prefill_tokens_per_s")).Within(1e-9).Percent);
        double bandwidth = Rate(best, "weight_bytes_per_token") * Rate(best, "decode_tokens_per_s") / 1e9 / root.GetProperty("copy_gbps").GetDouble();
        Assert.That(root.GetProperty("weight_bandwidth_fraction").GetDouble(), Is.EqualTo(bandwidth).Within(1e-9).Percent);
        double read = Rate(best, "weight_bytes_per_token") * Rate(best, "decode_tokens_per_s") / 1e9 / root.GetProperty("read_gbps").GetDouble();
        Assert.That(root.GetProperty("weight_read_fraction").GetDouble(), Is.EqualTo(read).Within(1e-9).Percent);
        Assert.That(root.GetProperty("mx_rss_vs_file_plus_kv").GetDouble(), Is.EqualTo(Rate(best, "rss_vs_file_plus_kv")));

        // Weight bytes per token: packed MXFP4 reads 17 bytes per 32 weights, NBits 20, fp32 128.
        Assert.That(Rate("fp32", "weight_bytes_per_token") / Rate("mxfp4-mxint8", "weight_bytes_per_token"), Is.EqualTo(128.0 / 17).Within(1).Percent);
        Assert.That(Rate("fp32", "weight_bytes_per_token") / Rate("matmulnbits-int4-acc4", "weight_bytes_per_token"), Is.EqualTo(128.0 / 20).Within(1).Percent);
        Assert.That(root.GetProperty("activation_rms_per_layer").GetArrayLength(), Is.EqualTo(DecoderConfig.Tiny.Layers));
        Assert.That(root.GetProperty("isa").GetString(), Is.Not.Null);
        Assert.That(root.GetProperty("copy_gbps").GetDouble(), Is.GreaterThan(0));

        // A second run finds the models in the cache.
        var (again, _, err2) = Mx("bench", "decode", "--config", "tiny", "--prefill", "4", "--tokens", "2", "--threads", "1", "--variants", "mxfp4-mxint8", "--no-profile", "--cache-dir", cache);
        Assert.That(again, Is.EqualTo(0), err2);
        Assert.That(err2, Does.Not.Contain("generating"));
    }

    [Test]
    public void BadArguments_AreOneLineErrors()
    {
        var (code, _, err) = Mx("bench", "decode", "--config", "huge");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown decoder config 'huge'"));
        (code, _, err) = Mx("bench", "decode", "--config", "tiny", "--variants", "fp16");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("unknown variant 'fp16'"));
        (code, _, err) = Mx("bench", "decode", "--config", "tiny", "--prefill", "1000", "--tokens", "100");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err, Does.Contain("1024 positions"));
    }

    [Test]
    public void Runner_CachedGreedyDecode_EqualsFullRerunsWithoutCache()
    {
        var c = DecoderConfig.Tiny;
        string model = DecodeVariants.Ensure(DecodeVariantKind.Fp32, TempPath("models"), c, DecoderAttention.GroupQueryAttention, null);
        using var options = HostTensorSession.CreateOptions(1);
        using var session = new InferenceSession(model, options);
        var prompt = c.Prompt(5).ToList();
        using var cached = new DecoderRunner(session, c, 12);
        using var full = new DecoderRunner(session, c, 12);
        cached.Run(prompt.ToArray());
        int lastRow = prompt.Count - 1;   // the last new position of the cached runner's last run
        var sequence = new List<long>(prompt);
        for (int step = 0; step < 6; step++)
        {
            long next = cached.ArgMax(lastRow);
            full.Reset();
            full.Run(sequence.ToArray());
            Assert.That(next, Is.EqualTo(full.ArgMax(sequence.Count - 1)), $"step {step}");
            var rerun = full.Logits.Slice((sequence.Count - 1) * c.Vocab, c.Vocab).ToArray();
            Assert.That(cached.Logits.Slice(lastRow * c.Vocab, c.Vocab).ToArray(), Is.EqualTo(rerun).Within(1e-4f), $"step {step}");
            sequence.Add(next);
            cached.Run([next]);
            lastRow = 0;
        }
        Assert.That(cached.Length, Is.EqualTo(11));
    }

    [Test]
    public void MxMxVariant_IsTheQuantizersMxint8ActivationForm()
    {
        var c = DecoderConfig.Tiny;
        string folder = TempPath("models");
        string mxmx = DecodeVariants.Ensure(DecodeVariantKind.MxMx, folder, c, DecoderAttention.GroupQueryAttention, null);
        using var copy = OnnxModel.Load(mxmx);
        using var direct = OnnxModel.Load(Path.Combine(folder, "fp32.onnx"));
        ModelQuantizer.Quantize(direct, new QuantizationPlan(new QuantizationOptions { ActFormat = MxFormats.Mxint8 }));
        string Nodes(OnnxModel m) => string.Join("\n", m.Proto.Graph.Node.Select(n => $"{n.OpType} {string.Join(",", n.Input)} {string.Join(",", n.Attribute.OrderBy(a => a.Name).Select(a => a.ToString()))}"));
        Assert.That(Nodes(copy), Is.EqualTo(Nodes(direct)));
        // The copy holds no weights of its own: every external tensor is in the weight-only model's data file.
        Assert.That(copy.Proto.Graph.Initializer.SelectMany(t => t.ExternalData).Where(e => e.Key == "location").Select(e => e.Value).Distinct(), Is.EqualTo(new[] { "mxfp4.onnx.data" }));
        Assert.That(File.Exists(mxmx + ".data"), Is.False);
        Assert.That(QuantizationMetadata.Of(copy).ActFormat, Is.EqualTo("mxint8"));
    }
}
