using System.Runtime.InteropServices;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// The fake-quantized form: the graph is unchanged and the weight holds its MX-dequantized float32 values. A weight
/// whose uses need different layouts keeps its name for the first layout and gets a new initializer for each other.
/// </summary>
internal static class FakeEmitter
{
    public static EmittedTensor Emit(EmitContext ctx, WeightCandidate c, LayoutGroup group, MxPackedTensor packed, TensorSettings s, bool first)
    {
        float[] values = MxQuantizer.Dequantize(packed);
        byte[] bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        string name = c.Name;
        if (first)
        {
            Replace(c.Constant, bytes);
        }
        else
        {
            name = ctx.Name(c.Name + ".mx_fake");
            ctx.AddInitializer(c.Constant.Graph.Proto, name, TensorElementType.Float, c.Shape, bytes);
            foreach (var use in group.Uses) use.Node.Input[use.InputIndex] = name;
        }
        foreach (var use in group.Uses)
        {
            switch (use.Op)
            {
                case "MatMul":
                    ctx.QuantizeActivation(use.Graph.Proto, use.Node, 0, -1, s);
                    break;
                case "Gemm":
                    // transA = 1 puts K on axis 0 of A.
                    ctx.QuantizeActivation(use.Graph.Proto, use.Node, 0, WeightFinder.GetInt(use.Node, "transA", 0) != 0 ? 0 : -1, s);
                    break;
                case "Conv":
                    ctx.QuantizeActivation(use.Graph.Proto, use.Node, 0, 1, s);
                    break;
            }
        }
        return new EmittedTensor(name, null, null, bytes.Length, []);
    }

    /// <summary>Puts new float32 data into an initializer (in place, inline) or a Constant node (as its <c>value</c> tensor).</summary>
    private static void Replace(ConstantValue constant, byte[] bytes)
    {
        var t = new TensorProto { Name = constant.Tensor.Name, DataType = (int)TensorElementType.Float, RawData = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(bytes) };
        t.Dims.AddRange(constant.Shape);
        if (constant.Source == ConstantSource.ConstantNode && constant.Node != null)
        {
            constant.Node.Attribute.Clear();
            constant.Node.Attribute.Add(GraphEdits.Tensor("value", t));
            return;
        }
        var list = constant.Graph.Proto.Initializer;
        for (int i = 0; i < list.Count; i++)
            if (list[i].Name == constant.Name) list[i] = t;
    }
}
