using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.TestModels.Decoder;

/// <summary>Appends nodes and small inline constants to a graph; each node is named after its first output.</summary>
internal sealed class NodeEmitter(GraphProto graph)
{
    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; } = graph;

    /// <summary>A node of the default domain with one output; returns the output's name.</summary>
    public string Op(string type, string output, string[] inputs, params AttributeProto[] attributes) =>
        Ops(type, "", [output], inputs, attributes)[0];

    /// <summary>A node of any domain with several outputs (empty names for omitted ones).</summary>
    public string[] Ops(string type, string domain, string[] outputs, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = type, Domain = domain, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return outputs;
    }

    /// <summary>An inline int64 initializer (a shape, axes, an index); a scalar when <paramref name="scalar"/>.</summary>
    public string Int64s(string name, bool scalar, params long[] values)
    {
        Graph.Initializer.Add(TensorFactory.Int64(name, scalar ? [] : [values.Length], values));
        return name;
    }

    /// <summary>An inline float32 scalar initializer.</summary>
    public string Scalar(string name, float value)
    {
        Graph.Initializer.Add(TensorFactory.Float32(name, [], [value]));
        return name;
    }
}
