using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// The standard-ONNX form: data + scale initializers → <c>DequantizeLinear</c> (axis = the block axis, block_size)
/// → <c>Reshape</c> back to the weight's shape when the layout is a reshape (Conv) → the original consumers.
/// </summary>
internal static class QdqEmitter
{
    /// <summary>Throws when a format cannot be written as DequantizeLinear.</summary>
    public static void CheckExpressible(MxFormat format, string tensor)
    {
        if (QdqEncoding.DataType(format) is null)
            throw new NotSupportedException($"tensor '{tensor}': {format.Name} has no ONNX data type, so it cannot be written as DequantizeLinear (--emit qdq supports mxfp8_e4m3, mxfp8_e5m2, mxint8, mxint4, mxfp4_e2m1); use --emit packed or fake");
    }

    public static EmittedTensor Emit(EmitContext ctx, WeightCandidate c, LayoutGroup group, MxPackedTensor packed, TensorSettings s)
    {
        CheckExpressible(s.Format, c.Name);
        var home = c.Constant.Graph.Proto;
        var layout = packed.Layout;
        var (data, scales) = QdqEncoding.Encode(packed);
        string dataName = ctx.Name(c.Name + ".mx_data");
        ctx.AddInitializer(home, dataName, QdqEncoding.DataType(s.Format)!.Value, layout.Shape.Select(d => (long)d), data);
        string scaleName = ctx.Name(c.Name + ".mx_scale");
        bool e8m0 = QdqEncoding.UsesE8M0Scales(s.Format);
        ctx.AddInitializer(home, scaleName, e8m0 ? TensorElementType.Float8E8M0 : TensorElementType.Float, QdqEncoding.ScaleShape(layout), scales);
        string output = ctx.Name(c.Name + ".dequantized");
        var attrs = new List<AttributeProto> { GraphEdits.Int("axis", layout.Axis), GraphEdits.Int("block_size", s.BlockSize) };
        // With E8M0 scales the output type would follow the scale's; ask for float32.
        if (e8m0) attrs.Add(GraphEdits.Int("output_dtype", (long)TensorElementType.Float));
        var nodes = new List<NodeProto> { GraphEdits.Node("DequantizeLinear", ctx.Name(c.Name + "_DequantizeLinear"), [dataName, scaleName], [output], "", [.. attrs]) };
        long bytes = data.Length + scales.Length;
        if (!layout.Shape.Select(d => (long)d).SequenceEqual(c.Shape))
        {
            string shape = ctx.AddInt64(home, c.Name + ".shape", c.Shape).Name;
            string reshaped = ctx.Name(c.Name + ".dequantized_reshaped");
            nodes.Add(GraphEdits.Node("Reshape", ctx.Name(c.Name + "_reshape"), [output, shape], [reshaped]));
            output = reshaped;
            bytes += c.Shape.Length * 8L;
        }
        // The weight's graph defines the new value before anything else runs: its inputs are initializers.
        for (int i = nodes.Count - 1; i >= 0; i--) home.Node.Insert(0, nodes[i]);
        foreach (var use in group.Uses) use.Node.Input[use.InputIndex] = output;
        var notes = new List<string>();
        if (e8m0) notes.Add("DequantizeLinear with FLOAT4E2M1 data and FLOAT8E8M0 scales (opset 24): portable to runtimes that implement it; ONNX Runtime 1.30's CPU provider cannot run it");
        return new EmittedTensor(dataName, scaleName, null, bytes, notes);
    }
}
