using Mx.Onnx.Graph;
using Mx.Onnx.Proto;

namespace Mx.Onnx.Quantization;

/// <summary>One node reading a weight: <paramref name="Node"/> in <paramref name="Graph"/> reads it as input <paramref name="InputIndex"/>.</summary>
/// <param name="Graph">The graph that holds the node (a subgraph when the node is inside If/Loop/Scan).</param>
/// <param name="Node">The consuming node.</param>
/// <param name="InputIndex">Which input of the node is the weight.</param>
public sealed record WeightUse(OnnxGraph Graph, NodeProto Node, int InputIndex)
{
    /// <summary>The node's operator type when the use was found (rewriting may change the node's own).</summary>
    public string Op { get; } = Node.OpType;

    /// <summary>The node's name, or its first output when it has none (for messages and metadata).</summary>
    public string NodeName { get; } = Node.Name.Length > 0 ? Node.Name : Node.Output.FirstOrDefault() ?? "";
}

/// <summary>
/// The MX layout a use needs: the weight viewed as <paramref name="BlockShape"/> (a reshape of its own shape) with
/// blocks along <paramref name="Axis"/>, exactly as MxQuantizer and MxPackedLayout use them.
/// </summary>
public sealed record WeightLayout(IReadOnlyList<int> BlockShape, int Axis)
{
    /// <summary>Length of the blocked axis (the reduction length).</summary>
    public int K => BlockShape[Axis];

    /// <summary>Value equality over the shape's elements.</summary>
    public bool Equals(WeightLayout? other) => other is not null && Axis == other.Axis && BlockShape.SequenceEqual(other.BlockShape);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Axis, string.Join(",", BlockShape));

    /// <inheritdoc/>
    public override string ToString() => $"[{string.Join(", ", BlockShape)}] axis {Axis}";
}

/// <summary>The uses of a weight that share one layout: the weight is packed once for all of them.</summary>
/// <param name="Layout">The shared layout.</param>
/// <param name="Uses">The nodes that read the weight with it.</param>
public sealed record LayoutGroup(WeightLayout Layout, IReadOnlyList<WeightUse> Uses);

/// <summary>
/// A constant that at least one supported operator reads as its weight input, with every use of it and, when it can
/// be quantized structurally, the distinct layouts those uses need. <see cref="Problem"/> says why it cannot be.
/// </summary>
public sealed class WeightCandidate
{
    internal WeightCandidate(ConstantValue constant, IReadOnlyList<WeightUse> uses, IReadOnlyList<LayoutGroup> groups, string? problem)
    {
        Constant = constant;
        Uses = uses;
        Groups = groups;
        Problem = problem;
    }

    /// <summary>The constant: initializer or Constant node, and the graph that defines it.</summary>
    public ConstantValue Constant { get; }

    /// <summary>The constant's name.</summary>
    public string Name => Constant.Name;

    /// <summary>The weight's operator (of its first use): MatMul, Gemm, Conv or Gather.</summary>
    public string Op => Uses[0].Op;

    /// <summary>The original shape.</summary>
    public long[] Shape => Constant.Shape;

    /// <summary>Number of elements.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Every node that reads the weight, in graph order.</summary>
    public IReadOnlyList<WeightUse> Uses { get; }

    /// <summary>The distinct layouts the uses need (one in the common case); empty when <see cref="Problem"/> is set.</summary>
    public IReadOnlyList<LayoutGroup> Groups { get; }

    /// <summary>Why the weight cannot be quantized whatever the plan says (a non-float type, a use that is not a weight input, ...); null when it can.</summary>
    public string? Problem { get; }
}
