using Mx.Runtime;
using static Mx.TestModels.GraphBuilder;

namespace Mx.TestModels.Decoder;

/// <summary>
/// Attention as ONNX Runtime's <c>com.microsoft.GroupQueryAttention</c>: q [B, S, Hidden], k and v [B, S, KvWidth],
/// past and present keys/values [B, KvHeads, T, HeadDim] (BNSH, no shared buffer), rotary embedding inside the op
/// (<c>do_rotary</c>, halves not interleaved, the cos/sin caches of <see cref="DecoderWeights"/>), causal masking inside
/// the op. The op takes the sequence lengths instead of a mask: <c>seqlens_k</c> = Σ attention_mask − 1 per sequence
/// (int32 [B]) and <c>total_sequence_length</c> = attention_mask's second dimension (int32 scalar), computed once for
/// every layer. Positions follow from them (past length + i), which is what position_ids holds for a left-aligned batch.
/// </summary>
internal sealed class GqaAttentionEmitter(NodeEmitter e, DecoderConfig c) : IAttentionEmitter
{
    /// <summary>ONNX Runtime's contrib domain.</summary>
    public const string Domain = "com.microsoft";

    private (string SeqLens, string Total)? _lengths;

    public string Emit(int layer, string q, string k, string v)
    {
        var (seqLens, total) = _lengths ??= Lengths();
        string p = $"layers.{layer}.attn.";
        return e.Ops("GroupQueryAttention", Domain, [p + "gqa", DecoderNames.PresentKey(layer), DecoderNames.PresentValue(layer)],
            [q, k, v, DecoderNames.PastKey(layer), DecoderNames.PastValue(layer), seqLens, total, DecoderWeights.CosCache, DecoderWeights.SinCache],
            Int("num_heads", c.Heads), Int("kv_num_heads", c.KvHeads), Int("do_rotary", 1), Int("rotary_interleaved", 0),
            Float("scale", 1f / MathF.Sqrt(c.HeadDim)))[0];
    }

    private (string, string) Lengths()
    {
        const long Int32 = (long)TensorElementType.Int32;
        string axis1 = e.Int64s("gqa.axis1", scalar: false, 1);
        string sum = e.Op("ReduceSum", "gqa.mask_sum", [DecoderNames.AttentionMask, axis1], Int("keepdims", 0));
        string minus = e.Op("Sub", "gqa.mask_sum_minus_1", [sum, e.Int64s("gqa.one", scalar: true, 1)]);
        string seqLens = e.Op("Cast", "gqa.seqlens_k", [minus], Int("to", Int32));
        string shape = e.Op("Shape", "gqa.mask_shape", [DecoderNames.AttentionMask]);
        string totalLong = e.Op("Gather", "gqa.total_int64", [shape, e.Int64s("gqa.index1", scalar: true, 1)], Int("axis", 0));
        string total = e.Op("Cast", "gqa.total_sequence_length", [totalLong], Int("to", Int32));
        return (seqLens, total);
    }
}
