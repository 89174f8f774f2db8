using Microsoft.ML.OnnxRuntime;
using Mx.Onnx.ExternalData;
using Mx.TestModels.Decoder;

namespace Mx.Onnx.Tests.Decoder;

/// <summary>
/// The generated Llama decoder (tools/Mx.TestModels/Decoder), tiny configuration, in ONNX Runtime: both attention
/// forms against a scalar double-precision reference, KV-cache decoding against full re-runs, the I/O contract that
/// ONNX Runtime GenAI binds, the activation scale through the layers, and the streamed weight file.
/// </summary>
public class DecoderModelTests
{
    private static readonly DecoderConfig Tiny = DecoderConfig.Tiny;
    private static readonly long[] Tokens = [5, 77, 301, 12, 498, 0, 250, 33, 190, 64, 7];
    private string _dir = "";

    [OneTimeSetUp]
    public void WriteModels()
    {
        _dir = Path.Combine(Path.GetTempPath(), $"mx-decoder-tests-{Guid.NewGuid():N}");
        foreach (var a in new[] { DecoderAttention.GroupQueryAttention, DecoderAttention.OnnxOps })
            DecoderModelWriter.Write(Tiny, a, Model(a));
    }

    [OneTimeTearDown]
    public void Delete()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private string Model(DecoderAttention a) => Path.Combine(_dir, DecoderAttentionNames.Name(a), "model.onnx");

    private static IEnumerable<DecoderAttention> Forms() => [DecoderAttention.GroupQueryAttention, DecoderAttention.OnnxOps];

    [TestCaseSource(nameof(Forms))]
    public void FullPrompt_MatchesTheScalarReference(DecoderAttention attention)
    {
        using var ort = new OrtDecoder(Model(attention), Tiny);
        var got = ort.Run(Tokens);
        var (want, _) = new ReferenceDecoder(Tiny).Forward(Tokens);
        for (int s = 0; s < Tokens.Length; s++)
            Assert.That(RelativeError(got.AsSpan(s * Tiny.Vocab, Tiny.Vocab), want[s]), Is.LessThan(2e-5), $"position {s}");
    }

    [TestCaseSource(nameof(Forms))]
    public void KvCacheDecode_GivesTheLogitsOfAFullRerun(DecoderAttention attention)
    {
        const int prompt = 6;
        using var cached = new OrtDecoder(Model(attention), Tiny);
        using var full = new OrtDecoder(Model(attention), Tiny);
        cached.Run(Tokens[..prompt]);
        for (int t = prompt; t < Tokens.Length; t++)
        {
            var step = cached.Run(Tokens[t..(t + 1)]);
            Assert.That(step, Has.Length.EqualTo(Tiny.Vocab));
            full.Reset();
            var rerun = full.Run(Tokens[..(t + 1)]);
            var last = rerun.AsSpan(t * Tiny.Vocab, Tiny.Vocab);
            Assert.That(RelativeError(step, last.ToArray().Select(v => (double)v).ToArray()), Is.LessThan(1e-5), $"step at position {t}");
            Assert.That(cached.CachedLength, Is.EqualTo(t + 1));
        }
    }

    [Test]
    public void BothAttentionForms_AgreeAtEveryDecodeStep()
    {
        using var gqa = new OrtDecoder(Model(DecoderAttention.GroupQueryAttention), Tiny);
        using var onnx = new OrtDecoder(Model(DecoderAttention.OnnxOps), Tiny);
        var a = gqa.Run(Tokens[..4]);
        var b = onnx.Run(Tokens[..4]);
        Assert.That(RelativeError(a, b.Select(v => (double)v).ToArray()), Is.LessThan(1e-5), "prefill");
        for (int t = 4; t < Tokens.Length; t++)
            Assert.That(RelativeError(gqa.Run(Tokens[t..(t + 1)]), onnx.Run(Tokens[t..(t + 1)]).Select(v => (double)v).ToArray()), Is.LessThan(1e-5), $"position {t}");
    }

    [TestCaseSource(nameof(Forms))]
    public void InputsAndOutputs_AreTheOnesOnnxRuntimeGenAiBinds(DecoderAttention attention)
    {
        using var session = new InferenceSession(Model(attention));
        var inputs = new List<string> { "input_ids", "attention_mask", "position_ids" };
        var outputs = new List<string> { "logits" };
        for (int i = 0; i < Tiny.Layers; i++)
        {
            inputs.AddRange([$"past_key_values.{i}.key", $"past_key_values.{i}.value"]);
            outputs.AddRange([$"present.{i}.key", $"present.{i}.value"]);
        }
        Assert.That(session.InputNames, Is.EqualTo(inputs));
        Assert.That(session.OutputNames, Is.EqualTo(outputs));
        Assert.That(session.InputMetadata["input_ids"].ElementDataType, Is.EqualTo(Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64));
        Assert.That(session.InputMetadata["past_key_values.0.key"].Dimensions, Is.EqualTo(new[] { -1, Tiny.KvHeads, -1, Tiny.HeadDim }));
        Assert.That(session.InputMetadata["past_key_values.0.key"].SymbolicDimensions, Is.EqualTo(new[] { "batch_size", "", "past_sequence_length", "" }));
        Assert.That(session.OutputMetadata["present.1.value"].SymbolicDimensions, Is.EqualTo(new[] { "batch_size", "", "total_sequence_length", "" }));
        Assert.That(session.OutputMetadata["logits"].Dimensions, Is.EqualTo(new[] { -1, -1, Tiny.Vocab }));

        // Run shapes: logits [1, S, V]; presents [1, KvHeads, past + S, HeadDim].
        using var ort = new OrtDecoder(Model(attention), Tiny);
        ort.Run(Tokens[..3]);
        ort.Run(Tokens[3..5]);
        Assert.That(ort.LastShapes["logits"], Is.EqualTo(new long[] { 1, 2, Tiny.Vocab }));
        Assert.That(ort.LastShapes["present.1.key"], Is.EqualTo(new long[] { 1, Tiny.KvHeads, 5, Tiny.HeadDim }));
    }

    [Test]
    public void Activations_KeepTheirScaleThroughTheLayers()
    {
        var (logits, layerRms) = new ReferenceDecoder(Tiny).Forward(Tokens);
        // The pre-norm residual stream grows slowly (about √layers with unit-gain projections) and stays finite.
        Assert.That(layerRms, Has.All.InRange(0.2, 5.0));
        Assert.That(layerRms[^1], Is.GreaterThan(layerRms[0]));
        double logitRms = Math.Sqrt(logits.Sum(r => r.Sum(v => v * v)) / (logits.Length * Tiny.Vocab));
        Assert.That(logitRms, Is.InRange(0.3, 3.0));
    }

    [Test]
    public void TinyLlamaWeights_HaveTheScalesOfATrainedModel()
    {
        var c = DecoderConfig.TinyLlama;
        Assert.That(c.Parameters, Is.InRange(1.09e9, 1.11e9), "TinyLlama-1.1B");
        var tensors = DecoderWeights.All(c, DecoderAttention.GroupQueryAttention).ToDictionary(t => t.Name);
        foreach (var (name, sigma) in new[] { ("layers.0.attn.q_proj.weight", 1 / Math.Sqrt(2048)), ("layers.21.mlp.down_proj.weight", 1 / Math.Sqrt(5632)), ("embed_tokens.weight", 0.02) })
        {
            var sample = new float[1 << 18];
            tensors[name].Fill(tensors[name].Count - sample.Length, sample);   // the tensor's last values
            double mean = sample.Average(v => (double)v), std = Math.Sqrt(sample.Average(v => (double)v * v) - mean * mean);
            Assert.That(std, Is.EqualTo(sigma).Within(1).Percent, name);
            Assert.That(Math.Abs(mean), Is.LessThan(sigma * 0.01), name);
        }
        var cos = tensors[DecoderWeights.CosCache];
        var row = new float[c.HeadDim / 2];
        cos.Fill(100L * row.Length, row);   // position 100
        Assert.That(row[0], Is.EqualTo((float)Math.Cos(100)));
        Assert.That(row[5], Is.EqualTo((float)Math.Cos(100 * Math.Pow(10000, -10.0 / 64))));
    }

    [Test]
    public void WeightFile_HoldsTheGeneratorsValues_InAlignedChunkIndependentRuns()
    {
        string path = Model(DecoderAttention.GroupQueryAttention);
        using var model = OnnxModel.Load(path);
        var tensors = DecoderWeights.All(Tiny, DecoderAttention.GroupQueryAttention);
        Assert.That(model.Proto.Graph.Initializer.Where(ExternalDataReference.IsExternal).Select(t => t.Name), Is.EqualTo(tensors.Select(t => t.Name)));
        foreach (var t in tensors)
        {
            var proto = model.FindInitializer(t.Name)!;
            Assert.That(ExternalDataReference.Parse(proto, path).Offset % 4096, Is.Zero, t.Name);
            var stored = model.ReadFloat32(proto);
            var whole = new float[t.Count];
            t.Fill(0, whole);
            Assert.That(stored, Is.EqualTo(whole), t.Name);
            // Any run of values is computed from its position alone.
            int start = (int)(t.Count / 3), length = (int)Math.Min(1000, t.Count - start);
            var part = new float[length];
            t.Fill(start, part);
            Assert.That(part, Is.EqualTo(whole.AsSpan(start, length).ToArray()), t.Name);
        }
        // Writing again gives the same bytes.
        string again = Path.Combine(_dir, "again", "model.onnx");
        DecoderModelWriter.Write(Tiny, DecoderAttention.GroupQueryAttention, again);
        Assert.That(File.ReadAllBytes(again + ".data"), Is.EqualTo(File.ReadAllBytes(path + ".data")));
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(again)!), Has.Length.EqualTo(2), "no temporary file left");
    }

    [Test]
    public void BadConfig_NamesTheField()
    {
        var bad = DecoderConfig.Tiny with { Heads = 3 };
        Assert.That(() => DecoderGraph.Build(bad, DecoderAttention.OnnxOps), Throws.ArgumentException.With.Message.Contains("heads × head_dim"));
        Assert.That(() => DecoderConfig.Parse("huge"), Throws.ArgumentException.With.Message.Contains("tiny, tinyllama"));
        Assert.That(() => DecoderAttentionNames.Parse("flash"), Throws.ArgumentException.With.Message.Contains("gqa"));
    }

    private static double RelativeError(ReadOnlySpan<float> got, double[] want)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.Sqrt(num / den);
    }
}
