using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Ocs;

/// <summary>A weight whose input channels can be split: a main-graph float32 initializer read by exactly one MatMul (as B) or Gemm (as B, transA = 0).</summary>
/// <param name="Name">The weight.</param>
/// <param name="Node">The node that reads it.</param>
/// <param name="View">Its channel view.</param>
public sealed record OcsTarget(string Name, NodeProto Node, WeightView View)
{
    /// <summary>The splittable weights of <paramref name="model"/>, in graph order.</summary>
    public static IReadOnlyList<OcsTarget> Find(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new List<OcsTarget>();
        foreach (var c in WeightFinder.Find(model).Candidates)
        {
            if (Why(model, c) is not null) continue;
            var node = c.Uses[0].Node;
            long[] s = c.Shape;
            bool transB = node.OpType == "Gemm" && IntAttribute(node, "transB", 0) != 0;
            var view = transB ? new WeightView((int)s[1], (int)s[0], false) : new WeightView((int)s[0], (int)s[1], true);
            result.Add(new OcsTarget(c.Name, node, view));
        }
        return result;
    }

    /// <summary>Finds the target named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such weight, or it cannot be split; the message says why.</exception>
    public static OcsTarget Get(OnnxModel model, string name)
    {
        var c = WeightFinder.Find(model).Candidates.FirstOrDefault(x => x.Name == name)
            ?? throw new ArgumentException($"{model.Source}: no weight named '{name}' to split");
        if (Why(model, c) is { } why) throw new ArgumentException($"{model.Source}: weight '{name}' cannot be split: {why}");
        return Find(model).First(t => t.Name == name);
    }

    private static string? Why(OnnxModel model, WeightCandidate c)
    {
        if (c.Problem != null) return c.Problem;
        if (c.Uses.Count != 1) return $"it has {c.Uses.Count} uses";
        var use = c.Uses[0];
        if (!ReferenceEquals(use.Graph.Proto, model.Proto.Graph) || model.FindInitializer(c.Name) is null) return "it is not a main-graph initializer";
        if (use.Op is not ("MatMul" or "Gemm")) return $"it is read by {use.Op}, not MatMul or Gemm";
        if (use.Op == "Gemm" && IntAttribute(use.Node, "transA", 0) != 0) return "Gemm with transA = 1";
        if (c.Shape.Length != 2) return "it is not 2-D";
        return null;
    }

    private static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : fallback;
}
