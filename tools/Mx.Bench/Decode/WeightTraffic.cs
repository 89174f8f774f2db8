using Mx.Onnx;
using Mx.Onnx.Tensors;

namespace Mx.Bench.Decode;

/// <summary>
/// Bytes of weights a decode step reads: every initializer input of the model's matrix products (MatMul, Gemm,
/// MxMatMul, MatMulNBits: codes, scales, zero points, biases), each read once per token at M = 1. Embedding lookups
/// read one row per token and are left out (a few KB).
/// </summary>
public static class WeightTraffic
{
    private static readonly HashSet<string> MatrixOps = new(StringComparer.Ordinal) { "MatMul", "Gemm", "MxMatMul", "MatMulNBits" };

    /// <summary>The bytes per token of the model at <paramref name="modelPath"/> (its graph only is read).</summary>
    public static long PerToken(string modelPath)
    {
        using var model = OnnxModel.Load(modelPath);
        var sizes = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => TensorLayout.ByteCountOrNull(t) ?? 0, StringComparer.Ordinal);
        var counted = new HashSet<string>(StringComparer.Ordinal);
        long bytes = 0;
        foreach (var node in model.Proto.Graph.Node)
        {
            if (!MatrixOps.Contains(node.OpType)) continue;
            foreach (string input in node.Input.Skip(1))
                if (sizes.TryGetValue(input, out long b) && counted.Add(input)) bytes += b;
        }
        return bytes;
    }
}
