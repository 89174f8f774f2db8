using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.TestModels;

/// <summary>A small fluent helper for writing a ModelProto by hand.</summary>
public sealed class GraphBuilder(string name)
{
    private readonly GraphProto _graph = new() { Name = name };

    /// <summary>Adds a graph input; dimensions are numbers (fixed) or strings (symbolic).</summary>
    public GraphBuilder Input(string value, TensorElementType type, params object[] dims)
    {
        _graph.Input.Add(ValueInfo(value, type, dims));
        return this;
    }

    /// <summary>Adds a graph output.</summary>
    public GraphBuilder Output(string value, TensorElementType type, params object[] dims)
    {
        _graph.Output.Add(ValueInfo(value, type, dims));
        return this;
    }

    /// <summary>Adds a float32 initializer.</summary>
    public GraphBuilder Weight(string value, long[] shape, float[] data)
    {
        _graph.Initializer.Add(TensorFactory.Float32(value, shape, data));
        return this;
    }

    /// <summary>Adds an int64 initializer.</summary>
    public GraphBuilder Int64s(string value, long[] shape, long[] data)
    {
        _graph.Initializer.Add(TensorFactory.Int64(value, shape, data));
        return this;
    }

    /// <summary>Adds a node; the node is named after its first output.</summary>
    public GraphBuilder Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op}_{outputs[0]}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return this;
    }

    /// <summary>An INT attribute.</summary>
    public static AttributeProto Int(string n, long v) => new() { Name = n, Type = AttributeProto.Types.AttributeType.Int, I = v };

    /// <summary>A FLOAT attribute.</summary>
    public static AttributeProto Float(string n, float v) => new() { Name = n, Type = AttributeProto.Types.AttributeType.Float, F = v };

    /// <summary>An INTS attribute.</summary>
    public static AttributeProto Ints(string n, params long[] v)
    {
        var a = new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    /// <summary>A FLOATS attribute.</summary>
    public static AttributeProto Floats(string n, params float[] v)
    {
        var a = new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(v);
        return a;
    }

    /// <summary>A TENSOR attribute.</summary>
    public static AttributeProto Tensor(string n, TensorProto t) => new() { Name = n, Type = AttributeProto.Types.AttributeType.Tensor, T = t };

    /// <summary>The model: IR version 10, default-domain opset <paramref name="opset"/>.</summary>
    public ModelProto Build(long opset = 17, string doc = "")
    {
        var model = new ModelProto
        {
            IrVersion = 10, ProducerName = "Mx.TestModels", ProducerVersion = "1", DocString = doc, Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    private static ValueInfoProto ValueInfo(string value, TensorElementType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                _ => throw new ArgumentException($"dimension {d} of '{value}' must be a number or a string"),
            });
        }
        return new ValueInfoProto
        {
            Name = value,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
