using System.Globalization;
using Mx.Onnx.Proto;

namespace Mx.Onnx.Graph;

/// <summary>Builds graph input/output declarations (<see cref="ValueInfoProto"/>) for models written in code.</summary>
public static class ValueInfos
{
    /// <summary>
    /// A tensor value named <paramref name="name"/> of ONNX element type <paramref name="elementType"/>
    /// (<c>TensorProto.DataType</c>); each of <paramref name="dims"/> is a number (a fixed size) or a string (a
    /// symbolic dimension). No dims: a scalar.
    /// </summary>
    public static ValueInfoProto Tensor(string name, int elementType, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s
                ? new TensorShapeProto.Types.Dimension { DimParam = s }
                : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, CultureInfo.InvariantCulture) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }
}
