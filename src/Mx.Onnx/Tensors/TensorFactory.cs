using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Onnx.Tensors;

/// <summary>Builds <see cref="TensorProto"/>s with their data in <c>raw_data</c>.</summary>
public static class TensorFactory
{
    /// <summary>A tensor of any fixed-size element type from its raw little-endian bytes (copied).</summary>
    /// <exception cref="ArgumentException">The byte count does not match the type and shape.</exception>
    public static TensorProto FromRaw(string name, TensorElementType type, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
    {
        var expected = type.ByteCount(HostTensor.ElementCountOf(shape));
        if (type.BitsPerElement() == 0) throw new ArgumentException($"tensor '{name}': {type} has no raw byte form", nameof(type));
        if (data.Length != expected)
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes do not hold {type.OnnxName()} {TensorLayout.ShapeText(shape.ToArray())} ({expected} bytes expected)", nameof(data));
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(data) };
        t.Dims.AddRange(shape.ToArray());
        return t;
    }

    /// <summary>A packed uint8 tensor: the raw bytes of an MX-packed (or other byte-addressed) weight, with its byte shape.</summary>
    public static TensorProto PackedUInt8(string name, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data) =>
        FromRaw(name, TensorElementType.UInt8, shape, data);

    /// <summary>A float32 tensor.</summary>
    public static TensorProto Float32(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values) =>
        FromRaw(name, TensorElementType.Float, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>An int64 tensor (shapes, axes, indices).</summary>
    public static TensorProto Int64(string name, ReadOnlySpan<long> shape, ReadOnlySpan<long> values) =>
        FromRaw(name, TensorElementType.Int64, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));

    /// <summary>A tensor holding a copy of a <see cref="HostTensor"/>.</summary>
    public static TensorProto FromHostTensor(string name, HostTensor tensor) =>
        FromRaw(name, tensor.ElementType, tensor.Shape, tensor.Data);
}
