using System.Globalization;

namespace Mx.TestModels.Decoder;

/// <summary>How the generated decoder computes attention.</summary>
public enum DecoderAttention
{
    /// <summary>
    /// ONNX Runtime's fused <c>com.microsoft.GroupQueryAttention</c>: rotary embedding, KV-cache concatenation,
    /// causal masking and grouped heads in one op per layer (what ONNX Runtime GenAI's model builder emits).
    /// </summary>
    GroupQueryAttention,

    /// <summary>
    /// Standard ONNX ops only: Reshape/Transpose into heads, rotary embedding as Mul/Add with gathered cos/sin tables,
    /// Concat with the past keys and values, MatMul → Add mask → Softmax → MatMul, query heads grouped over their KV head.
    /// </summary>
    OnnxOps,
}

/// <summary>
/// The shape of a Llama-architecture decoder (pre-norm RMSNorm, rotary position embedding, grouped-query attention,
/// SwiGLU MLP, untied embedding and LM head). <see cref="TinyLlama"/> is TinyLlama-1.1B's shape; <see cref="Tiny"/> a
/// few-MB model of the same structure for tests.
/// </summary>
/// <param name="Name">The configuration's name (<c>tiny</c>, <c>tinyllama</c>).</param>
/// <param name="Layers">Decoder layers.</param>
/// <param name="Hidden">Model width (= <paramref name="Heads"/> · <paramref name="HeadDim"/>).</param>
/// <param name="Intermediate">SwiGLU MLP width.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (each serves Heads / KvHeads query heads).</param>
/// <param name="HeadDim">Width of one head (even: rotary embedding pairs its halves).</param>
/// <param name="Vocab">Vocabulary size.</param>
/// <param name="MaxPositions">Rows of the rotary cos/sin tables: the longest sequence the model accepts.</param>
/// <param name="RopeTheta">Rotary base: frequency i of a head is RopeTheta^(−2i/HeadDim).</param>
/// <param name="RmsEpsilon">RMSNorm epsilon.</param>
/// <param name="Seed">Seed of the weights.</param>
public sealed record DecoderConfig(
    string Name, int Layers, int Hidden, int Intermediate, int Heads, int KvHeads, int HeadDim, int Vocab,
    int MaxPositions, double RopeTheta = 10000, float RmsEpsilon = 1e-5f, ulong Seed = 0x11A3A)
{
    /// <summary>2 layers, width 128, MLP 352, 4 query / 2 KV heads of 32, vocabulary 512 (about 2 MB of float32).</summary>
    public static DecoderConfig Tiny { get; } = new("tiny", 2, 128, 352, 4, 2, 32, 512, 1024);

    /// <summary>TinyLlama-1.1B: 22 layers, width 2048, MLP 5632, 32 query / 4 KV heads of 64, vocabulary 32000, 2048 positions.</summary>
    public static DecoderConfig TinyLlama { get; } = new("tinyllama", 22, 2048, 5632, 32, 4, 64, 32000, 2048);

    /// <summary>The named configurations.</summary>
    public static IReadOnlyList<DecoderConfig> Known { get; } = [Tiny, TinyLlama];

    /// <summary>The configuration named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No such configuration; the message lists the known ones.</exception>
    public static DecoderConfig Parse(string name) =>
        Known.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown decoder config '{name}'; known: {string.Join(", ", Known.Select(c => c.Name))}");

    /// <summary>Query heads per KV head.</summary>
    public int Group => Heads / KvHeads;

    /// <summary>Width of the key and value projections.</summary>
    public int KvWidth => KvHeads * HeadDim;

    /// <summary>Weights of one decoder layer (projections and both norms).</summary>
    public long LayerParameters =>
        (long)Hidden * Hidden * 2 + 2L * Hidden * KvWidth + 3L * Hidden * Intermediate + 2L * Hidden;

    /// <summary>Every weight: embedding, layers, final norm, LM head (the rotary tables are not parameters).</summary>
    public long Parameters => 2L * Vocab * Hidden + Layers * LayerParameters + Hidden;

    /// <summary>Bytes of the KV cache per token and sequence (keys and values of every layer, float32).</summary>
    public long KvCacheBytesPerToken => 2L * Layers * KvWidth * sizeof(float);

    /// <summary>Checks the shape; the message names the field that is wrong.</summary>
    /// <exception cref="ArgumentException">A size is not positive, the heads do not divide, or the head width is odd.</exception>
    public void Validate()
    {
        foreach (var (field, value) in new[] { ("layers", Layers), ("hidden", Hidden), ("intermediate", Intermediate), ("heads", Heads), ("kv_heads", KvHeads), ("head_dim", HeadDim), ("vocab", Vocab), ("max_positions", MaxPositions) })
            if (value < 1) throw new ArgumentException($"decoder config '{Name}': {field} must be positive, got {value}");
        if (Heads * HeadDim != Hidden)
            throw new ArgumentException($"decoder config '{Name}': heads × head_dim = {Heads} × {HeadDim} must equal hidden {Hidden}");
        if (Heads % KvHeads != 0)
            throw new ArgumentException($"decoder config '{Name}': heads {Heads} must be a multiple of kv_heads {KvHeads}");
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"decoder config '{Name}': head_dim {HeadDim} must be even (rotary embedding rotates pairs of halves)");
    }

    /// <summary>The benchmark prompt: <paramref name="count"/> seeded token ids in [1, Vocab) (the same for every tool that runs this model).</summary>
    public long[] Prompt(int count)
    {
        var rng = new SplitMix64(0x9A0D7);
        return Enumerable.Range(0, count).Select(_ => 1 + (long)(rng.NextUInt64() % (ulong)(Vocab - 1))).ToArray();
    }

    /// <summary>One line: the shape and the parameter count.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Layers} layers, hidden {Hidden}, intermediate {Intermediate}, {Heads} heads / {KvHeads} KV heads of {HeadDim}, vocabulary {Vocab}, {Parameters / 1e6:F1} M parameters");
}

/// <summary>The input and output names of the generated decoder: those ONNX Runtime GenAI binds for a decoder model.</summary>
public static class DecoderNames
{
    /// <summary>int64 [batch_size, sequence_length]: the new tokens.</summary>
    public const string InputIds = "input_ids";

    /// <summary>int64 [batch_size, total_sequence_length]: 1 for every real token, past and new.</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>int64 [batch_size, sequence_length]: the absolute positions of the new tokens.</summary>
    public const string PositionIds = "position_ids";

    /// <summary>float32 [batch_size, sequence_length, vocab]: next-token scores at every new position.</summary>
    public const string Logits = "logits";

    /// <summary>float32 [batch_size, kv_heads, past_sequence_length, head_dim]: layer <paramref name="layer"/>'s cached keys.</summary>
    public static string PastKey(int layer) => $"past_key_values.{layer}.key";

    /// <summary>float32 [batch_size, kv_heads, past_sequence_length, head_dim]: layer <paramref name="layer"/>'s cached values.</summary>
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";

    /// <summary>float32 [batch_size, kv_heads, total_sequence_length, head_dim]: the keys to cache for the next step.</summary>
    public static string PresentKey(int layer) => $"present.{layer}.key";

    /// <summary>float32 [batch_size, kv_heads, total_sequence_length, head_dim]: the values to cache for the next step.</summary>
    public static string PresentValue(int layer) => $"present.{layer}.value";

    /// <summary>The residual stream after layer <paramref name="layer"/> (an internal value, exposed by probes).</summary>
    public static string LayerOutput(int layer) => $"layers.{layer}.output";
}

/// <summary>The command-line spellings of <see cref="DecoderAttention"/>: <c>gqa</c> and <c>onnx</c>.</summary>
public static class DecoderAttentionNames
{
    /// <summary><c>gqa</c> or <c>onnx</c>.</summary>
    public static string Name(DecoderAttention a) => a == DecoderAttention.GroupQueryAttention ? "gqa" : "onnx";

    /// <summary>Parses <c>gqa</c> or <c>onnx</c> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static DecoderAttention Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "gqa" => DecoderAttention.GroupQueryAttention,
        "onnx" => DecoderAttention.OnnxOps,
        _ => throw new ArgumentException($"unknown attention '{text}'; use gqa (com.microsoft.GroupQueryAttention) or onnx (standard ONNX ops)"),
    };
}
