using Mx.Onnx;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Calibration.Sparsity;

/// <summary>A constant of the chain whose last axis runs over the hidden channels (a bias, a per-channel scale).</summary>
/// <param name="Name">The initializer.</param>
/// <param name="Shape">Its shape (last dimension = the hidden size).</param>
public sealed record ChannelConstant(string Name, long[] Shape);

/// <summary>
/// An MLP's hidden dimension that can be permuted without changing the model's function: the hidden tensor
/// <see cref="Hidden"/> reaches one MatMul (<see cref="Down"/>, constant weight [h, d]) through per-element ops only
/// (activations, gates, biases), from MatMuls with constant weights [d_in, h] (<see cref="Producers"/>: up and gate).
/// Permuting the producers' output columns, the per-channel constants and the down weight's rows by the same
/// permutation leaves every output of the model unchanged (up to the summation order of the down product).
/// </summary>
public sealed record MlpChannelGroup(
    string Down, string DownWeight, string Hidden, int Size, IReadOnlyList<string> Producers,
    IReadOnlyList<ChannelConstant> Constants, IReadOnlyList<string> ChainNodes)
{
    // Ops that act per element, so a permutation of the last axis commutes with them.
    private static readonly HashSet<string> PerElement = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Gelu", "Sigmoid", "Tanh", "Erf", "Softplus", "HardSigmoid", "HardSwish", "Elu", "Selu",
        "Clip", "Identity", "Neg", "Abs", "Mul", "Add", "Sub", "Div", "Pow", "Sqrt", "Exp",
    };

    /// <summary>Every permutable MLP of the main graph (each down MatMul at most once).</summary>
    public static IReadOnlyList<MlpChannelGroup> Find(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var g = model.Graph;
        var found = new List<MlpChannelGroup>();
        foreach (var node in g.Nodes)
            if (node.OpType == "MatMul" && node.Domain is "" or "ai.onnx" && node.Input.Count == 2 && TryGroup(model, g, node) is { } group)
                found.Add(group);
        return found;
    }

    private static MlpChannelGroup? TryGroup(OnnxModel model, OnnxGraph g, NodeProto down)
    {
        var wd = Weight2D(model, g, down, down.Input[1]);
        if (wd is null) return null;
        int h = (int)wd.Dims[0];
        string hidden = down.Input[0];
        var chain = new List<NodeProto>();
        var producers = new List<string>();
        var constants = new List<ChannelConstant>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var insideNodes = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance) { down };
        var pending = new Stack<string>();
        pending.Push(hidden);
        while (pending.Count > 0)
        {
            string v = pending.Pop();
            if (!seen.Add(v)) continue;
            if (g.IsOutput(v) || g.IsInput(v)) return null;
            var p = g.Producer(v);
            if (p is null || p.Output.Count != 1) return null;
            insideNodes.Add(p);
            if (p.OpType == "MatMul" && p.Domain is "" or "ai.onnx")
            {
                var w = Weight2D(model, g, p, p.Input[1]);
                if (w is null || w.Dims[1] != h || g.FindConstant(p.Input[0]) != null) return null;
                producers.Add(w.Name);
                chain.Add(p);
                continue;
            }
            if (!PerElement.Contains(p.OpType) || p.Domain is not ("" or "ai.onnx")) return null;
            chain.Add(p);
            foreach (string u in p.Input)
            {
                if (u.Length == 0) continue;
                if (g.FindConstant(u) is { } c)
                {
                    var shape = c.Shape;
                    long size = shape.Aggregate(1L, (a, b) => a * b);
                    if (size == 1 || (shape.Length > 0 && shape[^1] == 1)) continue;   // broadcast over the channels
                    if (shape.Length == 0 || shape[^1] != h || size != h || c.Graph != g || g.Initializer(u) is null
                        || c.ElementType != TensorElementType.Float) return null;
                    if (!constants.Any(k => k.Name == u)) constants.Add(new ChannelConstant(u, shape));
                    continue;
                }
                pending.Push(u);
            }
        }
        if (producers.Count == 0) return null;
        // Nothing outside the chain may read its values or its per-channel constants.
        foreach (var n in chain)
            foreach (var o in n.Output)
                if (g.Consumers(o).Any(c => !insideNodes.Contains(c))) return null;
        foreach (var c in constants.Select(k => k.Name).Concat(producers).Append(wd.Name))
            if (g.Consumers(c).Any(n => !insideNodes.Contains(n)) || g.IsOutput(c)) return null;
        return new MlpChannelGroup(down.Name, wd.Name, hidden, h, producers, constants, chain.Select(n => n.Name).ToList());
    }

    // A 2-D float32 initializer of this graph that only the given node reads.
    private static TensorProto? Weight2D(OnnxModel model, OnnxGraph g, NodeProto node, string name)
    {
        var t = g.Initializer(name);
        if (t is null || t.DataType != (int)TensorElementType.Float || t.Dims.Count != 2 || g.IsOverriddenByInput(name)) return null;
        if (g.Consumers(name).Count != 1) return null;
        return model.FindInitializer(name) is null ? null : t;
    }
}
