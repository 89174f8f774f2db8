using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Raises the default-domain opset of a model (for DequantizeLinear with blocks, opset 21+), migrating the operators
/// whose attributes became inputs on the way (Squeeze, Unsqueeze, Split, ReduceSum at 13; other Reduce* at 18; Pad,
/// Clip at 11; Slice at 10; Dropout at 12; BatchNormalization's <c>spatial</c>), checking Softmax-family axes (13),
/// and refusing, naming the node, operators whose meaning changed in ways it does not translate.
/// </summary>
internal static class OpsetUpgrade
{
    private static readonly HashSet<string> Reduce18 = new(StringComparer.Ordinal)
    {
        "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    };

    /// <summary>Raises the opset to <paramref name="target"/> when it is lower; returns a note saying so, or null.</summary>
    /// <exception cref="NotSupportedException">An operator cannot be migrated; the message names it.</exception>
    public static string? Raise(OnnxModel model, int target)
    {
        long from = model.OpsetVersion("") ?? 1;
        if (from >= target) return null;
        if (from < 7)
            throw new NotSupportedException($"{model.Source}: default-domain opset {from} is below 7; DequantizeLinear with blocks needs opset {target} and migrating from before 7 is not supported");
        var edits = new List<Action>();
        foreach (var graph in model.Graph.SelfAndDescendants())
            foreach (var node in graph.Nodes)
                if (node.Domain is "" or "ai.onnx")
                    Plan(model, graph, node, from, target, edits);
        foreach (var edit in edits) edit();
        foreach (var o in model.Proto.OpsetImport)
            if (o.Domain is "" or "ai.onnx") o.Version = target;
        if (model.Proto.IrVersion < 10) model.Proto.IrVersion = 10;
        model.Refresh();
        return $"default-domain opset raised from {from} to {target}";
    }

    private static bool Crosses(long from, long target, int changedAt) => from < changedAt && target >= changedAt;

    private static void Plan(OnnxModel model, OnnxGraph graph, NodeProto node, long from, int target, List<Action> edits)
    {
        string where = $"{node.OpType} node '{node.Name}'";
        switch (node.OpType)
        {
            case "Squeeze" or "Unsqueeze" or "ReduceSum" when Crosses(from, target, 13):
            case var op when Reduce18.Contains(op) && Crosses(from, target, 18):
                edits.Add(() => AttributeToInput(model, graph, node, "axes", 1, TensorElementType.Int64));
                break;
            case "Split" when Crosses(from, target, 13) || Crosses(from, target, 18):
                edits.Add(() =>
                {
                    if (from < 13) AttributeToInput(model, graph, node, "split", 1, TensorElementType.Int64);
                    // From 18 an equal split must say how many parts it makes.
                    if (target >= 18 && (node.Input.Count < 2 || node.Input[1].Length == 0) && node.Attribute.All(a => a.Name != "num_outputs"))
                        node.Attribute.Add(GraphEdits.Int("num_outputs", node.Output.Count));
                });
                break;
            case "Slice" when Crosses(from, target, 10):
                edits.Add(() =>
                {
                    AttributeToInput(model, graph, node, "starts", 1, TensorElementType.Int64, required: true);
                    AttributeToInput(model, graph, node, "ends", 2, TensorElementType.Int64, required: true);
                    AttributeToInput(model, graph, node, "axes", 3, TensorElementType.Int64);
                });
                break;
            case "Pad" when Crosses(from, target, 11):
                edits.Add(() =>
                {
                    AttributeToInput(model, graph, node, "pads", 1, TensorElementType.Int64, required: true);
                    AttributeToInput(model, graph, node, "value", 2, TensorElementType.Float, scalar: true);
                });
                break;
            case "Clip" when Crosses(from, target, 11):
                edits.Add(() =>
                {
                    AttributeToInput(model, graph, node, "min", 1, TensorElementType.Float, scalar: true);
                    AttributeToInput(model, graph, node, "max", 2, TensorElementType.Float, scalar: true);
                });
                break;
            case "Dropout" when Crosses(from, target, 12):
                edits.Add(() => AttributeToInput(model, graph, node, "ratio", 1, TensorElementType.Float, scalar: true));
                break;
            case "BatchNormalization" when from < 9:
                if (node.Attribute.FirstOrDefault(a => a.Name == "spatial") is { I: 0 })
                    throw new NotSupportedException($"{model.Source}: {where} has spatial = 0, which opset 9 removed; cannot raise the opset to {target}");
                edits.Add(() => GraphEdits.RemoveAttribute(node, "spatial"));
                break;
            case "Softmax" or "LogSoftmax" or "Hardmax" when Crosses(from, target, 13):
            {
                // Before 13 these flatten to 2-D at `axis` (default 1); from 13 they work along `axis` (default -1).
                // Both agree when the axis is the last one.
                long axis = WeightFinder.GetInt(node, "axis", 1);
                int? rank = RankInference.Rank(graph, node.Input[0]);
                if (rank is null && axis != -1)
                    throw new NotSupportedException($"{model.Source}: {where}: the rank of its input is unknown, so its axis cannot be carried from opset {from} to {target} (the meaning changed at 13)");
                if (rank is int r && axis != -1 && (axis < 0 ? axis + r : axis) != r - 1)
                    throw new NotSupportedException($"{model.Source}: {where}: axis {axis} on a rank-{r} input changed meaning at opset 13; cannot raise the opset to {target}");
                edits.Add(() => GraphEdits.SetAttribute(node, GraphEdits.Int("axis", -1)));
                break;
            }
            case "Upsample" when target >= 10:
            case "Scatter" when target >= 11:
            case "Resize" when from < 11:
            case "TopK" when from < 10:
            case "Scan" when from < 9:
                throw new NotSupportedException($"{model.Source}: {where}: its definition changed between opset {from} and {target} in a way this tool does not migrate; quantize with --emit packed or fake, or update the model's opset first");
        }
    }

    /// <summary>Moves attribute <paramref name="name"/> into input <paramref name="index"/> as a constant initializer.</summary>
    private static void AttributeToInput(OnnxModel model, OnnxGraph graph, NodeProto node, string name, int index, TensorElementType type, bool required = false, bool scalar = false)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is null)
        {
            if (required) throw new NotSupportedException($"{model.Source}: {node.OpType} node '{node.Name}' has no '{name}' attribute");
            return;
        }
        GraphEdits.RemoveAttribute(node, name);
        string input = model.UniqueName($"{node.Name}_{name}");
        TensorProto t = type == TensorElementType.Float
            ? TensorFactory.Float32(input, scalar ? [] : [1], [attribute.F])
            : TensorFactory.Int64(input, [attribute.Ints.Count], attribute.Ints.ToArray());
        graph.Proto.Initializer.Add(t);
        while (node.Input.Count < index) node.Input.Add("");
        if (node.Input.Count == index) node.Input.Add(input);
        else node.Input[index] = input;
    }
}

/// <summary>The rank of a value where the graph declares it or simple producers determine it; null when unknown.</summary>
internal static class RankInference
{
    private static readonly HashSet<string> Elementwise = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Clip", "Dropout", "Identity", "Cast", "BatchNormalization",
        "LeakyRelu", "HardSigmoid", "HardSwish", "Exp", "Abs", "Neg", "Sqrt", "Pow", "Softmax",
    };

    // Ranks found so far, per graph: residual networks reach the same value along many paths.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<OnnxGraph, Dictionary<string, int?>> Memo = new();

    public static int? Rank(OnnxGraph graph, string value, int depth = 0)
    {
        var memo = Memo.GetOrCreateValue(graph);
        if (memo.TryGetValue(value, out int? known)) return known;
        int? rank = Compute(graph, value, depth);
        memo[value] = rank;
        return rank;
    }

    private static int? Compute(OnnxGraph graph, string value, int depth)
    {
        if (depth > 2000) return null;
        foreach (var v in graph.Proto.Input.Concat(graph.Proto.ValueInfo).Concat(graph.Proto.Output))
            if (v.Name == value && v.Type?.TensorType?.Shape is { } s) return s.Dim.Count;
        if (graph.FindConstant(value) is { } c) return c.Shape.Length;
        var node = graph.Producer(value);
        if (node is null) return null;
        switch (node.OpType)
        {
            case "Flatten" or "Gemm":
                return 2;
            case "Shape":
                return 1;
            case "Reshape":
                return Length(graph, node.Input[1], depth + 1);
            case "Conv" or "MaxPool" or "AveragePool" or "GlobalAveragePool" or "GlobalMaxPool" or "LRN" or "InstanceNormalization":
                return Rank(graph, node.Input[0], depth + 1);
            case "MatMul":
                return Rank(graph, node.Input[0], depth + 1) is int ra && Rank(graph, node.Input[1], depth + 1) is int rb ? Math.Max(ra, rb) : null;
            case var op when Elementwise.Contains(op):
                int? r = null;
                foreach (string input in node.Input.Where(i => i.Length > 0))
                {
                    var ri = Rank(graph, input, depth + 1);
                    if (ri is null) return null;
                    r = Max(r, ri);
                }
                return r;
        }
        return null;
    }

    /// <summary>The number of elements of a 1-D shape-like value (a constant, Shape of a value of known rank, Concat, Slice, Cast of those).</summary>
    private static int? Length(OnnxGraph graph, string value, int depth)
    {
        if (depth > 2000) return null;
        if (graph.FindConstant(value) is { } c) return c.Shape.Length == 1 ? (int)c.Shape[0] : c.Shape.Length == 0 ? 1 : null;
        var node = graph.Producer(value);
        switch (node?.OpType)
        {
            case "Shape" when node.Attribute.Count == 0:
                return Rank(graph, node.Input[0], depth + 1);
            case "Cast" or "Identity":
                return Length(graph, node.Input[0], depth + 1);
            case "Unsqueeze":
                return Rank(graph, node.Input[0], depth + 1) == 0 ? 1 : null;
            case "Concat":
            {
                int total = 0;
                foreach (string input in node.Input)
                {
                    if (Length(graph, input, depth + 1) is not int l) return null;
                    total += l;
                }
                return total;
            }
            case "Slice":
            {
                if (Length(graph, node.Input[0], depth + 1) is not int n) return null;
                long? start = Single(graph, node, "starts", 1), end = Single(graph, node, "ends", 2);
                if (start is null || end is null) return null;
                long s = Math.Clamp(start.Value < 0 ? start.Value + n : start.Value, 0, n);
                long e = Math.Clamp(end.Value < 0 ? end.Value + n : end.Value, 0, n);
                return (int)Math.Max(0, e - s);
            }
        }
        return null;
    }

    // A one-element Slice parameter, from the attribute (before opset 10) or a constant input.
    private static long? Single(OnnxGraph graph, Proto.NodeProto node, string attribute, int input)
    {
        if (node.Attribute.FirstOrDefault(a => a.Name == attribute) is { } a) return a.Ints.Count == 1 ? a.Ints[0] : null;
        if (node.Input.Count > input && graph.FindConstant(node.Input[input]) is { } c && c.Shape.Aggregate(1L, (x, y) => x * y) == 1)
            return (long)graph.Model.ReadFloat32(c.Tensor)[0];
        return null;
    }

    private static int? Max(int? a, int? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
}
