using Mx.Onnx.Graph;

namespace Mx.Onnx.Reports;

/// <summary>Finds a constant (initializer or Constant-node value) by name anywhere in a model, subgraphs included.</summary>
internal static class ModelTensors
{
    /// <summary>The constant named <paramref name="name"/>: the main graph's first, then each subgraph's; null when none.</summary>
    public static ConstantValue? Find(OnnxModel model, string name)
    {
        foreach (var graph in model.Graph.SelfAndDescendants())
            if (graph.FindConstant(name) is { } c)
                return c;
        return null;
    }

    /// <summary>Like <see cref="Find"/>, but a missing tensor is an error naming the file and what needed it.</summary>
    /// <exception cref="InvalidDataException">No constant of that name.</exception>
    public static ConstantValue Require(OnnxModel model, string name, string role) =>
        Find(model, name) ?? throw new InvalidDataException($"{model.Source}: {role} '{name}' is not an initializer or Constant of the model");
}
