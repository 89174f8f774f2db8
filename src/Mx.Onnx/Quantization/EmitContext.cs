using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>What an emitter needs while rewriting one weight: the model, the options, and a place for notes.</summary>
internal sealed class EmitContext(OnnxModel model, QuantizationOptions options)
{
    public OnnxModel Model { get; } = model;

    public QuantizationOptions Options { get; } = options;

    /// <summary>Whether a node of the mx.onnx domain was added (the model then imports it).</summary>
    public bool UsesMxDomain { get; set; }

    public string Name(string hint) => Model.UniqueName(hint);

    /// <summary>Adds an initializer to <paramref name="graph"/>, wrapping <paramref name="data"/> without a copy (the caller gives it up).</summary>
    public TensorProto AddInitializer(GraphProto graph, string name, TensorElementType type, IEnumerable<long> shape, byte[] data)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = UnsafeByteOperations.UnsafeWrap(data) };
        t.Dims.AddRange(shape);
        graph.Initializer.Add(t);
        return t;
    }

    public TensorProto AddInt64(GraphProto graph, string hint, params long[] values)
    {
        var bytes = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return AddInitializer(graph, Name(hint), TensorElementType.Int64, [values.Length], bytes);
    }

    public TensorProto AddFloatScalar(GraphProto graph, string hint, float value) =>
        AddInitializer(graph, Name(hint), TensorElementType.Float, [], BitConverter.GetBytes(value));

    /// <summary>
    /// Inserts an MxQuantizeDequantize of the node's input <paramref name="input"/> along <paramref name="axis"/> when
    /// an activation format applies (the weight's own, else the model-wide one; activation simulation in front of a quantized op).
    /// </summary>
    public void QuantizeActivation(GraphProto graph, NodeProto node, int input, long axis, TensorSettings weight)
    {
        if (weight.ResolveActFormat(Options.ActFormat) is not { } act || node.Input.Count <= input || node.Input[input].Length == 0) return;
        int bs = MxPackedLayout.SupportedBlockSizes.Contains(weight.BlockSize) && (act.Kind != MxElementKind.SharedMicroExponent || weight.BlockSize >= 16)
            ? weight.BlockSize
            : act.DefaultBlockSize;
        string output = Name(node.Input[input] + ".mx_act");
        GraphEdits.InsertBefore(graph, node, GraphEdits.MxNode("MxQuantizeDequantize", Name(node.Name + "_act_qdq"), [node.Input[input]], [output],
            GraphEdits.String("format", act.Name), GraphEdits.Int("block_size", bs), GraphEdits.Int("axis", axis),
            GraphEdits.String("scale_mode", "floor"), GraphEdits.String("rounding", "even")));
        node.Input[input] = output;
        UsesMxDomain = true;
    }
}

/// <summary>What an emitter wrote for one packing of a weight.</summary>
internal sealed record EmittedTensor(string Elements, string? Scales, string? Micro, long BytesAfter, IReadOnlyList<string> Notes)
{
    /// <summary><c>rowmajor</c> or <c>kmajor</c>.</summary>
    public string Layout { get; init; } = "rowmajor";
    /// <summary>The K-major tile mask initializer, if any.</summary>
    public string? Mask { get; init; }
    /// <summary>The MatMulNBits zero-point initializer; null for every other form and for symmetric weights.</summary>
    public string? ZeroPoints { get; init; }
}
