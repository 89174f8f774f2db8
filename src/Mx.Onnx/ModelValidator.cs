using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx;

/// <summary>
/// Checks that a parsed protobuf is plausibly an ONNX model. Protobuf parsing alone accepts many things (another
/// message type such as a TensorProto, or random bytes that happen to decode), so the essentials are checked here.
/// </summary>
internal static class ModelValidator
{
    // Far above any IR version that exists; a larger number means the bytes are not a ModelProto.
    private const long MaxPlausibleIrVersion = 100;

    public static void Validate(ModelProto model, string source)
    {
        string hint = "(is it another protobuf message, such as a TensorProto, or not an ONNX file at all?)";
        if (!model.HasIrVersion)
            throw new OnnxFormatException($"{source}: not an ONNX model: no ir_version {hint}");
        if (model.IrVersion < 1 || model.IrVersion > MaxPlausibleIrVersion)
            throw new OnnxFormatException($"{source}: not an ONNX model: ir_version {model.IrVersion} is implausible {hint}");
        if (model.Graph is null)
            throw new OnnxFormatException($"{source}: not an ONNX model: no graph {hint}");
        if (model.IrVersion >= 3 && model.OpsetImport.Count == 0)
            throw new OnnxFormatException($"{source}: not an ONNX model: no opset_import (required from IR version 3) {hint}");
        foreach (var graph in ModelWalker.AllGraphs(model))
        {
            for (int i = 0; i < graph.Node.Count; i++)
            {
                if (string.IsNullOrEmpty(graph.Node[i].OpType))
                    throw new OnnxFormatException($"{source}: graph '{graph.Name}': node #{i} ('{graph.Node[i].Name}') has no op_type");
            }
        }
        foreach (var tensor in ModelWalker.AllTensors(model))
        {
            try { tensor.ElementCount(); }
            catch (OnnxFormatException ex) { throw new OnnxFormatException($"{source}: {ex.Message}"); }
        }
    }
}
