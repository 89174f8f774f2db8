using Mx.Onnx;
using Mx.Runtime;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Data;

/// <summary>The inputs of a model (names, types, shapes) as ONNX Runtime will ask for them, for loading samples.</summary>
public static class ModelInputs
{
    /// <summary>
    /// The main graph's inputs that no initializer provides (those ONNX Runtime requires on every run), with their
    /// declared element type and shape (−1 and the symbolic name, if any, for a dynamic dimension), read from the model
    /// itself: no session is created and no weight is read.
    /// </summary>
    /// <exception cref="InvalidDataException">An input has no declared type; the message names it.</exception>
    public static IReadOnlyList<OrtTensorInfo> Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Proto.Graph;
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var result = new List<OrtTensorInfo>();
        foreach (var input in graph.Input.Where(i => !initializers.Contains(i.Name)))
        {
            if (input.Type?.TensorType is not { } tensor)
            {
                if (input.Type is null) throw new InvalidDataException($"{model.Source}: input '{input.Name}' has no declared type");
                result.Add(new OrtTensorInfo(input.Name, false, TensorElementType.Undefined, [], []));
                continue;
            }
            var dims = tensor.Shape?.Dim.ToList() ?? [];
            result.Add(new OrtTensorInfo(input.Name, true, (TensorElementType)tensor.ElemType,
                dims.Select(d => d.HasDimValue ? d.DimValue : -1).ToArray(), dims.Select(d => d.HasDimParam ? d.DimParam : "").ToArray()));
        }
        return result;
    }
}
