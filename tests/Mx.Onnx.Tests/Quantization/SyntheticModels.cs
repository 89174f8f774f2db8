using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.Tests.Quantization;

/// <summary>Small models built in code for cases the test models do not cover.</summary>
internal static class SyntheticModels
{
    /// <summary>
    /// X [2, 64] → If(cond): then = MatMul(X, W_then) with W_then inside the branch; else = MatMul(X, W_outer) with
    /// W_outer in the main graph (an outer-scope weight). Both give [2, 32].
    /// </summary>
    public static ModelProto IfWithWeights()
    {
        var random = new Random(3);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        GraphProto Branch(string name, string weight, TensorProto? own)
        {
            var g = new GraphProto { Name = name };
            if (own != null) g.Initializer.Add(own);
            g.Node.Add(new NodeProto { OpType = "MatMul", Name = name + "_matmul", Input = { "X", weight }, Output = { name + "_y" } });
            g.Output.Add(Value(name + "_y", 2, 32));
            return g;
        }
        var main = new GraphProto { Name = "main" };
        main.Input.Add(Value("X", 2, 64));
        main.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 9, Shape = new TensorShapeProto() } } });
        main.Initializer.Add(TensorFactory.Float32("W_outer", [64, 32], Values(64 * 32)));
        var node = new NodeProto { OpType = "If", Name = "branch", Input = { "cond" }, Output = { "Y" } };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("then", "W_then", TensorFactory.Float32("W_then", [64, 32], Values(64 * 32))) });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Branch("else", "W_outer", null) });
        main.Node.Add(node);
        main.Output.Add(Value("Y", 2, 32));
        var model = new ModelProto { IrVersion = 10, Graph = main, ProducerName = "mx-tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
