using Mx.Onnx.ExternalData;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx.Tests;

/// <summary>Builds minimal models whose tensors point at external data, for the external-data tests.</summary>
internal static class ExternalModel
{
    /// <summary>A model with one float tensor per entry, each stored externally at (location, offset, length).</summary>
    public static ModelProto With(params (string Name, long[] Shape, string Location, long Offset)[] tensors)
    {
        var graph = new GraphProto { Name = "g" };
        foreach (var (name, shape, location, offset) in tensors)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorElementType.Float };
            t.Dims.AddRange(shape);
            ExternalDataReference.Assign(t, location, offset, TensorElementType.Float.ByteCount(HostTensor.ElementCountOf(shape)));
            graph.Initializer.Add(t);
            graph.Output.Add(new ValueInfoProto { Name = name });
        }
        var model = new ModelProto { IrVersion = 10, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    /// <summary>Writes <paramref name="model"/> as <paramref name="path"/> without going through the library.</summary>
    public static void Write(ModelProto model, string path) => File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
}
