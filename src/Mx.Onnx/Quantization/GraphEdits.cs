using Google.Protobuf;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime.Ops;

namespace Mx.Onnx.Quantization;

/// <summary>Small proto edits the emitters share: building nodes and attributes, inserting nodes, adding and removing constants.</summary>
internal static class GraphEdits
{
    public static NodeProto Node(string op, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, string domain = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    public static NodeProto MxNode(string op, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes) =>
        Node(op, name, inputs, outputs, MxOps.DomainName, attributes);

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Tensor(string name, TensorProto value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    /// <summary>Inserts <paramref name="node"/> right before <paramref name="anchor"/> (which stays topologically valid: the new node's inputs exist before the anchor).</summary>
    public static void InsertBefore(GraphProto graph, NodeProto anchor, NodeProto node)
    {
        int i = graph.Node.IndexOf(anchor);
        graph.Node.Insert(i < 0 ? 0 : i, node);
    }

    /// <summary>Inserts <paramref name="node"/> right after <paramref name="anchor"/>.</summary>
    public static void InsertAfter(GraphProto graph, NodeProto anchor, NodeProto node)
    {
        int i = graph.Node.IndexOf(anchor);
        graph.Node.Insert(i < 0 ? graph.Node.Count : i + 1, node);
    }

    public static void RemoveAttribute(NodeProto node, string name)
    {
        for (int i = node.Attribute.Count - 1; i >= 0; i--)
            if (node.Attribute[i].Name == name) node.Attribute.RemoveAt(i);
    }

    public static void SetAttribute(NodeProto node, AttributeProto attribute)
    {
        RemoveAttribute(node, attribute.Name);
        node.Attribute.Add(attribute);
    }

    /// <summary>Removes a constant from the graph that defines it: the initializer (and a graph input of the same name, IR &lt; 4) or the Constant node.</summary>
    public static void RemoveConstant(ConstantValue constant)
    {
        var g = constant.Graph.Proto;
        if (constant.Source == ConstantSource.ConstantNode && constant.Node != null)
        {
            g.Node.Remove(constant.Node);
            return;
        }
        for (int i = g.Initializer.Count - 1; i >= 0; i--)
            if (g.Initializer[i].Name == constant.Name) g.Initializer.RemoveAt(i);
        for (int i = g.Input.Count - 1; i >= 0; i--)
            if (g.Input[i].Name == constant.Name) g.Input.RemoveAt(i);
    }

    /// <summary>The element type of a value when the graph (or an enclosing one) declares it; null when unknown.</summary>
    public static int? DeclaredElementType(OnnxGraph graph, string value)
    {
        for (var g = graph; g != null; g = g.Parent)
        {
            foreach (var v in g.Proto.Input.Concat(g.Proto.ValueInfo).Concat(g.Proto.Output))
                if (v.Name == value && v.Type?.TensorType is { } t) return t.ElemType;
            if (g.FindConstant(value) is { } c) return c.Tensor.DataType;
            if (g.Producer(value) is { OpType: "Cast" } cast && cast.Domain is "" or "ai.onnx") return (int)WeightFinder.GetInt(cast, "to", 0);
            if (g.Defines(value)) return null;
        }
        return null;
    }
}
