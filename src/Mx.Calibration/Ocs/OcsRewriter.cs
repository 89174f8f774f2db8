using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Calibration.Ocs;

/// <summary>
/// Applies a <see cref="ChannelMap"/> to a model: the weight's channels are rewritten, and the activation feeding it
/// gets the matching columns — folded into the producer when that is a MatMul whose constant weight only it reads and
/// whose output only this node reads (its output columns are duplicated), otherwise by a Gather on the activation's
/// last axis with constant int64 indices. The model is edited in place.
/// For an <see cref="OcsSide.Activation"/> split the factors go to the activation instead: the weight's rows are
/// duplicated unchanged, and the activation's new columns are scaled — the producer's weight columns are multiplied by
/// the factors when folded, else a Mul by the constant factors follows the Gather.
/// </summary>
public static class OcsRewriter
{
    /// <summary>Rewrites weight <paramref name="name"/> of <paramref name="model"/> by <paramref name="map"/>.</summary>
    /// <param name="model">The model, edited in place.</param>
    /// <param name="name">The weight.</param>
    /// <param name="map">The channel map.</param>
    /// <param name="side">Which side the factors divide.</param>
    /// <param name="splitWeight">For a weight-side split, the split weight's values when they are not the plain map of the
    /// original (a <see cref="QaSplit"/>); its pieces must sum to the original channel.</param>
    /// <returns>How the activation was handled: <c>gather</c> or <c>producer:&lt;weight&gt;</c>; <c>none</c> for an identity map.</returns>
    /// <exception cref="ArgumentException">The weight cannot be split or the map does not fit it; the message names the weight.</exception>
    public static string Apply(OnnxModel model, string name, ChannelMap map, OcsSide side = OcsSide.Weight, float[]? splitWeight = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(map);
        var target = OcsTarget.Get(model, name);
        map.Validate(target.View.K, $"OCS map of '{name}'");
        if (map.IsIdentity) return "none";
        float[] w = model.ReadFloat32(model.FindInitializer(name)!);
        var newView = target.View.WithK(map.Count);
        var pure = new ChannelMap(map.Sources, Enumerable.Repeat(1f, map.Count).ToArray());
        float[] values = side == OcsSide.Activation ? target.View.Apply(w, pure) : splitWeight ?? target.View.Apply(w, map);
        if (values.LongLength != (long)map.Count * target.View.N)
            throw new ArgumentException($"{model.Source}: split values of '{name}' hold {values.LongLength} elements, not {(long)map.Count * target.View.N}");
        model.SetInitializer(TensorFactory.Float32(name, newView.Shape, values));

        var activationMap = side == OcsSide.Activation ? map : pure;
        string activation = target.Node.Input[0];
        string via = FoldIntoProducer(model, activation, activationMap, target.View.K) ?? InsertGather(model, target.Node, activation, activationMap);
        model.Refresh();
        return via;
    }

    private static string? FoldIntoProducer(OnnxModel model, string activation, ChannelMap map, int k)
    {
        var g = model.Graph;
        var producer = g.Producer(activation);
        if (producer is null || producer.OpType != "MatMul" || producer.Domain is not ("" or "ai.onnx") || producer.Input.Count != 2) return null;
        if (g.Consumers(activation).Count != 1 || g.IsOutput(activation)) return null;
        string wName = producer.Input[1];
        var wt = model.FindInitializer(wName);
        if (wt is null || wt.DataType != (int)TensorElementType.Float || wt.Dims.Count != 2) return null;
        if (g.Consumers(wName).Count != 1 || g.IsOutput(wName) || g.IsInput(wName)) return null;
        // The producer's weight [M, K]: its columns are the activation's channels.
        var view = new WeightView((int)wt.Dims[1], (int)wt.Dims[0], false);
        if (view.K != k) return null;
        float[] w = model.ReadFloat32(wt);
        model.SetInitializer(TensorFactory.Float32(wName, view.WithK(map.Count).Shape, view.Apply(w, map)));
        return "producer:" + wName;
    }

    private static string InsertGather(OnnxModel model, NodeProto node, string activation, ChannelMap map)
    {
        if ((model.OpsetVersion("") ?? 1) < 11)
            throw new ArgumentException($"{model.Source}: a Gather on the last axis needs opset 11 or later (the model imports {model.OpsetVersion("")})");
        string idx = model.UniqueName(activation + ".ocs_index");
        model.SetInitializer(TensorFactory.Int64(idx, [map.Count], map.Sources.Select(s => (long)s).ToArray()));
        string output = model.UniqueName(activation + ".ocs");
        var gather = new NodeProto { OpType = "Gather", Name = model.UniqueName((node.Name.Length > 0 ? node.Name : output) + "_ocs_gather") };
        gather.Input.Add(activation);
        gather.Input.Add(idx);
        gather.Output.Add(output);
        gather.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
        var nodes = model.Proto.Graph.Node;
        nodes.Insert(nodes.IndexOf(node), gather);
        node.Input[0] = output;
        if (map.Factors.All(f => f == 1f)) return "gather";
        // Activation-side split: the gathered columns are scaled by their factors.
        string factors = model.UniqueName(activation + ".ocs_factors");
        model.SetInitializer(TensorFactory.Float32(factors, [map.Count], map.Factors));
        string scaled = model.UniqueName(activation + ".ocs_scaled");
        var mul = new NodeProto { OpType = "Mul", Name = model.UniqueName(gather.Name + "_scale") };
        mul.Input.Add(output);
        mul.Input.Add(factors);
        mul.Output.Add(scaled);
        nodes.Insert(nodes.IndexOf(node), mul);
        node.Input[0] = scaled;
        return "gather+mul";
    }
}
