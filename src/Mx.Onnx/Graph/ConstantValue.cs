using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx.Graph;

/// <summary>Where a constant comes from.</summary>
public enum ConstantSource
{
    /// <summary>A graph initializer (not overridden by a graph input).</summary>
    Initializer,

    /// <summary>The output of a <c>Constant</c> node.</summary>
    ConstantNode,
}

/// <summary>A value whose contents are known without running the model.</summary>
/// <param name="Name">The value's name.</param>
/// <param name="Source">Initializer or Constant node.</param>
/// <param name="Tensor">
/// The data: the initializer itself, the node's <c>value</c> tensor, or a tensor built from <c>value_float(s)</c> /
/// <c>value_int(s)</c> (a new object; editing it does not change the node).
/// </param>
/// <param name="Node">The Constant node, for <see cref="ConstantSource.ConstantNode"/>.</param>
/// <param name="Graph">The graph that defines the value (an outer graph when seen from a subgraph).</param>
public sealed record ConstantValue(string Name, ConstantSource Source, TensorProto Tensor, NodeProto? Node, OnnxGraph Graph)
{
    /// <summary>The element type.</summary>
    public TensorElementType ElementType => Tensor.ElementType();

    /// <summary>The dimensions.</summary>
    public long[] Shape => Tensor.Shape();

    /// <summary>The bytes of the data (raw form).</summary>
    public long ByteCount => TensorLayout.ByteCountOrNull(Tensor) ?? 0;

    /// <summary>The values as float32.</summary>
    public float[] ReadFloat32() => Graph.Model.ReadFloat32(Tensor);

    /// <summary>The value as a dense host tensor.</summary>
    public HostTensor ReadHostTensor() => Graph.Model.ReadHostTensor(Tensor);

    /// <summary>
    /// The tensor a Constant node defines, or null when it holds something this view does not read as a tensor
    /// (<c>sparse_value</c>, <c>value_string(s)</c>).
    /// </summary>
    public static TensorProto? TensorOfConstantNode(NodeProto node)
    {
        string name = node.Output.Count > 0 ? node.Output[0] : node.Name;
        foreach (var a in node.Attribute)
        {
            switch (a.Name)
            {
                case "value" when a.T != null:
                    return a.T;
                case "value_float":
                    return TensorFactory.Float32(name, [], [a.F]);
                case "value_floats":
                    return TensorFactory.Float32(name, [a.Floats.Count], a.Floats.ToArray());
                case "value_int":
                    return TensorFactory.Int64(name, [], [a.I]);
                case "value_ints":
                    return TensorFactory.Int64(name, [a.Ints.Count], a.Ints.ToArray());
            }
        }
        return null;
    }
}
