using Mx.Onnx.Tensors;

namespace Mx.Onnx.Quantization;

/// <summary>Detects models that already hold quantized operators, which a second quantization would corrupt or double-count.</summary>
public static class AlreadyQuantized
{
    private static readonly HashSet<string> QuantOps = new(StringComparer.Ordinal)
    {
        "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulNBits", "ConvInteger", "MatMulInteger",
        "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QGemm", "DynamicQuantizeMatMul", "GatherBlockQuantized", "QAttention",
    };

    /// <summary>The first quantization node of the model as <c>op 'name'</c>, or null when there is none.</summary>
    public static string? Find(OnnxModel model)
    {
        foreach (var graph in ModelWalker.AllGraphs(model.Proto))
            foreach (var node in graph.Node)
                if (node.Domain == Mx.Runtime.Ops.MxOps.DomainName || QuantOps.Contains(node.OpType) || node.OpType.StartsWith("QLinear", StringComparison.Ordinal))
                    return $"{(node.Domain.Length > 0 ? node.Domain + ":" : "")}{node.OpType} '{node.Name}'";
        return null;
    }
}
