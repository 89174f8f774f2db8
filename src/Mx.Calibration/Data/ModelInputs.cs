using Mx.Onnx;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Data;

/// <summary>The inputs of a model as ONNX Runtime declares them (names, types, shapes), for loading samples.</summary>
public static class ModelInputs
{
    /// <summary>Loads the model in ORT (MX ops registered) and returns its inputs.</summary>
    /// <exception cref="InvalidDataException">ORT cannot load the model; the message names it.</exception>
    public static IReadOnlyList<OrtTensorInfo> Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var options = HostTensorSession.CreateOptions();
        try
        {
            using var session = HostTensorSession.FromBytes(model.ToBytes(), options);
            return session.Inputs;
        }
        catch (OrtException ex)
        {
            throw new InvalidDataException($"{model.Source}: ONNX Runtime cannot load the model: {ex.OrtMessage}", ex);
        }
    }
}
