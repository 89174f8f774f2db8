using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;
using static Mx.TestModels.GraphBuilder;

namespace Mx.TestModels.Decoder;

/// <summary>
/// Builds the decoder's graph (nodes, inputs, outputs, small constants; the weights are declared by
/// <see cref="DecoderModelWriter"/>). Per layer, with x the residual stream:
/// <code>
/// h = RMSNormalization(x); q, k, v = h·Wq, h·Wk, h·Wv
/// a, present.k, present.v = attention(q, k, v, past.k, past.v)        (see <see cref="DecoderAttention"/>)
/// x = x + a·Wo; h = RMSNormalization(x); x = x + (silu(h·Wgate) ⊙ h·Wup)·Wdown
/// </code>
/// then logits = RMSNormalization(x)·Wlm_head. The embedding is a Gather. Default-domain opset 23 (RMSNormalization).
/// </summary>
public static class DecoderGraph
{
    /// <summary>Default-domain opset of the generated model.</summary>
    public const long Opset = 23;

    /// <summary>The symbolic dimensions, as ONNX Runtime GenAI's models name them.</summary>
    public const string Batch = "batch_size", Sequence = "sequence_length", Total = "total_sequence_length", Past = "past_sequence_length";

    /// <summary>The model proto: graph, opsets and metadata, with no initializer for the weights of <see cref="DecoderWeights.All"/>.</summary>
    public static ModelProto Build(DecoderConfig c, DecoderAttention attention)
    {
        c.Validate();
        var graph = new GraphProto { Name = $"decoder_{c.Name}" };
        const int F32 = (int)TensorElementType.Float, I64 = (int)TensorElementType.Int64;
        graph.Input.Add(ValueInfos.Tensor(DecoderNames.InputIds, I64, Batch, Sequence));
        graph.Input.Add(ValueInfos.Tensor(DecoderNames.AttentionMask, I64, Batch, Total));
        graph.Input.Add(ValueInfos.Tensor(DecoderNames.PositionIds, I64, Batch, Sequence));
        for (int i = 0; i < c.Layers; i++)
        {
            graph.Input.Add(ValueInfos.Tensor(DecoderNames.PastKey(i), F32, Batch, c.KvHeads, Past, c.HeadDim));
            graph.Input.Add(ValueInfos.Tensor(DecoderNames.PastValue(i), F32, Batch, c.KvHeads, Past, c.HeadDim));
        }
        graph.Output.Add(ValueInfos.Tensor(DecoderNames.Logits, F32, Batch, Sequence, c.Vocab));
        for (int i = 0; i < c.Layers; i++)
        {
            graph.Output.Add(ValueInfos.Tensor(DecoderNames.PresentKey(i), F32, Batch, c.KvHeads, Total, c.HeadDim));
            graph.Output.Add(ValueInfos.Tensor(DecoderNames.PresentValue(i), F32, Batch, c.KvHeads, Total, c.HeadDim));
        }

        var e = new NodeEmitter(graph);
        IAttentionEmitter attend = attention == DecoderAttention.GroupQueryAttention ? new GqaAttentionEmitter(e, c) : new OnnxOpsAttentionEmitter(e, c);
        string x = e.Op("Gather", "embed_tokens", ["embed_tokens.weight", DecoderNames.InputIds], Int("axis", 0));
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"layers.{i}.";
            string h = Norm(e, c, p + "input_layernorm", x);
            string q = e.Op("MatMul", p + "attn.q", [h, p + "attn.q_proj.weight"]);
            string k = e.Op("MatMul", p + "attn.k", [h, p + "attn.k_proj.weight"]);
            string v = e.Op("MatMul", p + "attn.v", [h, p + "attn.v_proj.weight"]);
            string a = attend.Emit(i, q, k, v);
            string o = e.Op("MatMul", p + "attn.o", [a, p + "attn.o_proj.weight"]);
            x = e.Op("Add", p + "attn.residual", [x, o]);
            h = Norm(e, c, p + "post_attention_layernorm", x);
            string gate = e.Op("MatMul", p + "mlp.gate", [h, p + "mlp.gate_proj.weight"]);
            string up = e.Op("MatMul", p + "mlp.up", [h, p + "mlp.up_proj.weight"]);
            string sig = e.Op("Sigmoid", p + "mlp.gate_sigmoid", [gate]);
            string silu = e.Op("Mul", p + "mlp.silu", [gate, sig]);
            string prod = e.Op("Mul", p + "mlp.swiglu", [silu, up]);
            string down = e.Op("MatMul", p + "mlp.down", [prod, p + "mlp.down_proj.weight"]);
            x = e.Op("Add", DecoderNames.LayerOutput(i), [x, down]);
        }
        string final = Norm(e, c, "norm", x);
        e.Op("MatMul", DecoderNames.Logits, [final, "lm_head.weight"]);

        var model = new ModelProto
        {
            IrVersion = 10, ProducerName = "Mx.TestModels", ProducerVersion = DecoderModelWriter.GeneratorVersion, Graph = graph,
            DocString = $"Llama-architecture decoder, seeded random weights ({c.Describe()}; attention: {attention})",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        if (attention == DecoderAttention.GroupQueryAttention)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = GqaAttentionEmitter.Domain, Version = 1 });
        return model;
    }

    private static string Norm(NodeEmitter e, DecoderConfig c, string name, string x) =>
        e.Op("RMSNormalization", name, [x, name + ".weight"], Int("axis", -1), Float("epsilon", c.RmsEpsilon));
}

/// <summary>Emits one layer's attention: from the projected q, k, v to the attended values [B, S, Hidden], plus the present keys and values.</summary>
internal interface IAttentionEmitter
{
    /// <summary>Attention of layer <paramref name="layer"/>; returns the name of its [B, S, Hidden] result.</summary>
    string Emit(int layer, string q, string k, string v);
}
