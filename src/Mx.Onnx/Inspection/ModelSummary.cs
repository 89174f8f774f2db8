using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx.Inspection;

/// <summary>A graph input or output: name, type (e.g. <c>float</c>, <c>seq(float)</c>) and dimensions (numbers, symbols, or <c>?</c>).</summary>
public sealed record ValueSummary(string Name, string Type, IReadOnlyList<string> Shape);

/// <summary>One tensor: name, element type, shape, bytes of data.</summary>
public sealed record TensorSummary(string Name, string DataType, long[] Shape, long Bytes);

/// <summary>Totals per element type over the model's constants.</summary>
public sealed record TypeTotals(string DataType, int Tensors, long Parameters, long Bytes);

/// <summary>
/// A constant floating-point weight that an MX quantizer can replace: the B input of MatMul and Gemm, the W input of
/// Conv, the data input of Gather (embeddings). <paramref name="Uses"/> counts the nodes that read it that way.
/// </summary>
public sealed record QuantizableWeight(string Name, string Op, string Node, long[] Shape, long Bytes, string DataType, ConstantSource Source, int Uses);

/// <summary>What <c>mx inspect</c> reports about a model.</summary>
public sealed class ModelSummary
{
    /// <summary>Which input of which operator holds the weight.</summary>
    public static readonly IReadOnlyDictionary<string, int> WeightInputs = new Dictionary<string, int>
    {
        ["MatMul"] = 1, ["Gemm"] = 1, ["Conv"] = 1, ["Gather"] = 0,
    };

    /// <summary>ModelProto.ir_version.</summary>
    public long IrVersion { get; private init; }
    /// <summary>producer_name.</summary>
    public string ProducerName { get; private init; } = "";
    /// <summary>producer_version.</summary>
    public string ProducerVersion { get; private init; } = "";
    /// <summary>Opset version per domain (<c>""</c>: the default domain).</summary>
    public IReadOnlyDictionary<string, long> Opsets { get; private init; } = new Dictionary<string, long>();
    /// <summary>Main graph inputs that are not initializers.</summary>
    public IReadOnlyList<ValueSummary> Inputs { get; private init; } = [];
    /// <summary>Main graph outputs.</summary>
    public IReadOnlyList<ValueSummary> Outputs { get; private init; } = [];
    /// <summary>Nodes in all graphs, subgraphs included.</summary>
    public int NodeCount { get; private init; }
    /// <summary>Node count per operator (<c>domain:op</c> outside the default domain), subgraphs included, sorted by name.</summary>
    public IReadOnlyDictionary<string, int> OpCounts { get; private init; } = new Dictionary<string, int>();
    /// <summary>Elements of all constants: initializers of every graph and Constant-node values.</summary>
    public long Parameters { get; private init; }
    /// <summary>Data bytes of all initializers (every graph).</summary>
    public long InitializerBytes { get; private init; }
    /// <summary>Totals per element type over all constants.</summary>
    public IReadOnlyList<TypeTotals> ByType { get; private init; } = [];
    /// <summary>The largest initializers, largest first.</summary>
    public IReadOnlyList<TensorSummary> LargestInitializers { get; private init; } = [];
    /// <summary>The quantizable weights in graph order, each once.</summary>
    public IReadOnlyList<QuantizableWeight> Quantizable { get; private init; } = [];

    /// <summary>Summarizes <paramref name="model"/>; <paramref name="largest"/> bounds <see cref="LargestInitializers"/>.</summary>
    public static ModelSummary Of(OnnxModel model, int largest = 10)
    {
        var proto = model.Proto;
        var graphs = ModelWalker.AllGraphs(proto).ToList();
        var opCounts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in graphs.SelectMany(g => g.Node))
        {
            string key = node.Domain is "" or "ai.onnx" ? node.OpType : $"{node.Domain}:{node.OpType}";
            opCounts[key] = opCounts.GetValueOrDefault(key) + 1;
        }
        var initializers = graphs.SelectMany(g => g.Initializer).ToList();
        var constantNodeTensors = graphs.SelectMany(g => g.Node)
            .Where(n => n.OpType == "Constant" && n.Domain is "" or "ai.onnx")
            .Select(ConstantValue.TensorOfConstantNode).OfType<TensorProto>().ToList();
        var constants = initializers.Concat(constantNodeTensors).ToList();
        var initializerNames = proto.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return new ModelSummary
        {
            IrVersion = proto.IrVersion,
            ProducerName = proto.ProducerName,
            ProducerVersion = proto.ProducerVersion,
            Opsets = new SortedDictionary<string, long>(model.Opsets.ToDictionary(), StringComparer.Ordinal),
            Inputs = proto.Graph.Input.Where(v => !initializerNames.Contains(v.Name)).Select(Describe).ToList(),
            Outputs = proto.Graph.Output.Select(Describe).ToList(),
            NodeCount = opCounts.Values.Sum(),
            OpCounts = opCounts,
            Parameters = constants.Sum(t => t.ElementCount()),
            InitializerBytes = initializers.Sum(Bytes),
            ByType = constants.GroupBy(t => t.ElementType())
                .Select(g => new TypeTotals(g.Key.OnnxName(), g.Count(), g.Sum(t => t.ElementCount()), g.Sum(Bytes)))
                .OrderByDescending(t => t.Bytes).ToList(),
            LargestInitializers = initializers.OrderByDescending(Bytes).ThenBy(t => t.Name, StringComparer.Ordinal).Take(largest)
                .Select(t => new TensorSummary(t.Name, t.ElementType().OnnxName(), t.Shape(), Bytes(t))).ToList(),
            Quantizable = FindQuantizable(model),
        };
    }

    private static List<QuantizableWeight> FindQuantizable(OnnxModel model)
    {
        var found = new List<QuantizableWeight>();
        var index = new Dictionary<(OnnxGraph, string), int>();
        foreach (var graph in model.Graph.SelfAndDescendants())
        foreach (var node in graph.Nodes)
        {
            if (node.Domain is not ("" or "ai.onnx") || !WeightInputs.TryGetValue(node.OpType, out int slot)) continue;
            if (node.Input.Count <= slot || node.Input[slot].Length == 0) continue;
            var constant = graph.FindConstant(node.Input[slot]);
            if (constant is null || !IsFloating(constant.ElementType)) continue;
            var key = (constant.Graph, constant.Name);
            if (index.TryGetValue(key, out int at))
            {
                found[at] = found[at] with { Uses = found[at].Uses + 1 };
                continue;
            }
            index[key] = found.Count;
            found.Add(new QuantizableWeight(constant.Name, node.OpType, node.Name, constant.Shape, constant.ByteCount,
                constant.ElementType.OnnxName(), constant.Source, 1));
        }
        return found;
    }

    private static bool IsFloating(TensorElementType t) =>
        t is TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Double;

    private static long Bytes(TensorProto t) => TensorLayout.ByteCountOrNull(t) ?? t.StringData.Sum(s => (long)s.Length);

    private static ValueSummary Describe(ValueInfoProto v) => new(v.Name, TypeText(v.Type), ShapeOf(v.Type));

    private static string TypeText(TypeProto? t) => t?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => ((TensorElementType)t.TensorType.ElemType).OnnxName(),
        TypeProto.ValueOneofCase.SparseTensorType => $"sparse({((TensorElementType)t.SparseTensorType.ElemType).OnnxName()})",
        TypeProto.ValueOneofCase.SequenceType => $"seq({TypeText(t.SequenceType.ElemType)})",
        TypeProto.ValueOneofCase.OptionalType => $"optional({TypeText(t.OptionalType.ElemType)})",
        TypeProto.ValueOneofCase.MapType => $"map({((TensorElementType)t.MapType.KeyType).OnnxName()}, {TypeText(t.MapType.ValueType)})",
        TypeProto.ValueOneofCase.OpaqueType => $"opaque({t.OpaqueType.Domain}.{t.OpaqueType.Name})",
        _ => "?",
    };

    private static IReadOnlyList<string> ShapeOf(TypeProto? t)
    {
        var shape = t?.ValueCase switch
        {
            TypeProto.ValueOneofCase.TensorType => t.TensorType.Shape,
            TypeProto.ValueOneofCase.SparseTensorType => t.SparseTensorType.Shape,
            _ => null,
        };
        if (shape is null) return [];
        return shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        }).ToList();
    }
}
