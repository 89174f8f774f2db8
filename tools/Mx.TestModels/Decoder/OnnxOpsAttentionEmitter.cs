using static Mx.TestModels.GraphBuilder;

namespace Mx.TestModels.Decoder;

/// <summary>
/// Attention in standard ONNX ops. Per layer: q, k, v → [B, heads, S, d] (Reshape, Transpose); rotary embedding
/// <c>x·cos + swap_halves(x)·signed_sin</c> with the tables gathered at position_ids; present = Concat(past, new) on the
/// sequence axis; the query heads of one KV head are stacked as rows ([B, KvHeads, Group·S, d], a free Reshape, since
/// query head h uses KV head h / Group), so one MatMul per KV head scores them all against its keys without copying the
/// keys Group times; + mask, Softmax, MatMul with the values, back to [B, S, Hidden]. Computed once for every layer:
/// the gathered rotary tables and the additive mask [B, 1, Group·S, T] (0 where key j ≤ the query's absolute position
/// and attention_mask[b, j] = 1, else −3·10³⁸).
/// </summary>
internal sealed class OnnxOpsAttentionEmitter(NodeEmitter e, DecoderConfig c) : IAttentionEmitter
{
    private const float Masked = -3e38f;
    private Shared? _shared;

    private sealed record Shared(string Cos, string SignedSin, string Mask, string HeadsShape, string KvHeadsShape, string GroupedShape,
        string UngroupedShape, string MergedShape, string HalfStart, string HalfEnd, string Zero, string HeadAxis, string Scale);

    public string Emit(int layer, string q, string k, string v)
    {
        var s = _shared ??= CreateShared();
        string p = $"layers.{layer}.attn.";
        string q4 = Heads(p + "q", q, s.HeadsShape);
        string k4 = Heads(p + "k", k, s.KvHeadsShape);
        string v4 = Heads(p + "v", v, s.KvHeadsShape);
        string qRot = e.Op("Mul", p + "q_scaled", [Rotate(p + "q", q4, s), s.Scale]);
        string keys = e.Op("Concat", DecoderNames.PresentKey(layer), [DecoderNames.PastKey(layer), Rotate(p + "k", k4, s)], Int("axis", 2));
        string values = e.Op("Concat", DecoderNames.PresentValue(layer), [DecoderNames.PastValue(layer), v4], Int("axis", 2));
        string grouped = e.Op("Reshape", p + "q_grouped", [qRot, s.GroupedShape]);
        string keysT = e.Op("Transpose", p + "keys_t", [keys], Ints("perm", 0, 1, 3, 2));
        string scores = e.Op("MatMul", p + "scores", [grouped, keysT]);
        string masked = e.Op("Add", p + "scores_masked", [scores, s.Mask]);
        string probs = e.Op("Softmax", p + "probs", [masked], Int("axis", -1));
        string context = e.Op("MatMul", p + "context", [probs, values]);
        string perHead = e.Op("Reshape", p + "context_heads", [context, s.UngroupedShape]);
        string bshd = e.Op("Transpose", p + "context_bshd", [perHead], Ints("perm", 0, 2, 1, 3));
        return e.Op("Reshape", p + "context_merged", [bshd, s.MergedShape]);
    }

    // [B, S, n·d] → [B, n, S, d].
    private string Heads(string name, string x, string shape) =>
        e.Op("Transpose", name + "_heads", [e.Op("Reshape", name + "_split", [x, shape])], Ints("perm", 0, 2, 1, 3));

    private string Rotate(string name, string x4, Shared s)
    {
        string second = e.Op("Slice", name + "_second_half", [x4, s.HalfStart, s.HalfEnd, s.HeadAxis]);
        string first = e.Op("Slice", name + "_first_half", [x4, s.Zero, s.HalfStart, s.HeadAxis]);
        string swapped = e.Op("Concat", name + "_swapped", [second, first], Int("axis", 3));
        string withCos = e.Op("Mul", name + "_cos", [x4, s.Cos]);
        string withSin = e.Op("Mul", name + "_sin", [swapped, s.SignedSin]);
        return e.Op("Add", name + "_rotary", [withCos, withSin]);
    }

    private Shared CreateShared()
    {
        const string P = "attn_shared.";
        string axis1 = e.Int64s(P + "axis1", scalar: false, 1);
        string cos = e.Op("Unsqueeze", P + "cos", [e.Op("Gather", P + "cos_bsd", [DecoderWeights.CosFull, DecoderNames.PositionIds], Int("axis", 0)), axis1]);
        string sin = e.Op("Unsqueeze", P + "signed_sin", [e.Op("Gather", P + "signed_sin_bsd", [DecoderWeights.SignedSinFull, DecoderNames.PositionIds], Int("axis", 0)), axis1]);

        string index1 = e.Int64s(P + "index1", scalar: true, 1);
        string total = e.Op("Gather", P + "total", [e.Op("Shape", P + "mask_shape", [DecoderNames.AttentionMask]), index1], Int("axis", 0));
        string sequence = e.Op("Gather", P + "sequence", [e.Op("Shape", P + "ids_shape", [DecoderNames.InputIds]), index1], Int("axis", 0));
        string past = e.Op("Sub", P + "past", [total, sequence]);
        string zero = e.Int64s(P + "zero_scalar", scalar: true, 0), step = e.Int64s(P + "one_scalar", scalar: true, 1);
        string keyPositions = e.Op("Unsqueeze", P + "key_positions", [e.Op("Range", P + "key_range", [zero, total, step]), e.Int64s(P + "axis0", scalar: false, 0)]);
        string queryPositions = e.Op("Unsqueeze", P + "query_positions", [e.Op("Range", P + "query_range", [past, total, step]), axis1]);
        string causal = e.Op("LessOrEqual", P + "causal", [keyPositions, queryPositions]);                       // [S, T]
        string present = e.Op("Cast", P + "mask_bool", [DecoderNames.AttentionMask], Int("to", 9));              // [B, T]
        string present4 = e.Op("Unsqueeze", P + "mask_b11t", [present, e.Int64s(P + "axes12", scalar: false, 1, 2)]);
        string allowed = e.Op("And", P + "allowed", [causal, present4]);                                          // [B, 1, S, T]
        string bias = e.Op("Where", P + "mask_bias", [allowed, e.Scalar(P + "zero_f", 0f), e.Scalar(P + "masked_f", Masked)]);
        string mask = e.Op("Tile", P + "mask_grouped", [bias, e.Int64s(P + "group_repeats", scalar: false, 1, 1, c.Group, 1)]);

        int half = c.HeadDim / 2;
        return new Shared(cos, sin, mask,
            e.Int64s(P + "heads_shape", scalar: false, 0, 0, c.Heads, c.HeadDim),
            e.Int64s(P + "kv_heads_shape", scalar: false, 0, 0, c.KvHeads, c.HeadDim),
            e.Int64s(P + "grouped_shape", scalar: false, 0, c.KvHeads, -1, c.HeadDim),
            e.Int64s(P + "ungrouped_shape", scalar: false, 0, c.Heads, -1, c.HeadDim),
            e.Int64s(P + "merged_shape", scalar: false, 0, 0, c.Hidden),
            e.Int64s(P + "half_start", scalar: false, half), e.Int64s(P + "half_end", scalar: false, c.HeadDim),
            e.Int64s(P + "zero", scalar: false, 0), e.Int64s(P + "head_axis", scalar: false, 3),
            e.Scalar(P + "scale", 1f / MathF.Sqrt(c.HeadDim)));
    }
}
