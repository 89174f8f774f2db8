using Google.Protobuf;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;

namespace Mx.Bench;

/// <summary>
/// Builds benchmark models with the ONNX proto classes and writes them with every initializer's raw data produced
/// straight into the file by a callback, so a model with hundreds of MB of weights is written without holding them in
/// memory (that would skew the serving-memory benchmark). Protobuf merges repeated occurrences of a message field, so
/// each initializer is appended as its own one-tensor <c>graph</c> field after the rest of the model.
/// </summary>
internal sealed class BenchModelWriter
{
    /// <summary>Writes one initializer's raw little-endian bytes into the stream.</summary>
    public delegate void DataWriter(Stream destination);

    private readonly ModelProto _model = new()
    {
        IrVersion = 8,
        ProducerName = "mx-bench",
        Graph = new GraphProto { Name = "bench" },
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 } },
    };

    private readonly List<(TensorProto Header, long Length, DataWriter Data)> _initializers = [];

    /// <summary>Imports an op-set domain.</summary>
    public BenchModelWriter Opset(string domain, long version)
    {
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return this;
    }

    /// <summary>A graph input; dims are longs (fixed) or strings (symbolic). Element type: ONNX TensorProto.DataType.</summary>
    public BenchModelWriter Input(string name, int elementType, params object[] dims)
    {
        _model.Graph.Input.Add(ValueInfos.Tensor(name, elementType, dims));
        return this;
    }

    /// <summary>A graph output.</summary>
    public BenchModelWriter Output(string name, int elementType, params object[] dims)
    {
        _model.Graph.Output.Add(ValueInfos.Tensor(name, elementType, dims));
        return this;
    }

    /// <summary>An initializer of <paramref name="dims"/> whose <paramref name="byteLength"/> raw bytes <paramref name="data"/> writes.</summary>
    public BenchModelWriter Initializer(string name, int elementType, long[] dims, long byteLength, DataWriter data)
    {
        var header = new TensorProto { Name = name, DataType = elementType };
        header.Dims.AddRange(dims);
        _initializers.Add((header, byteLength, data));
        return this;
    }

    /// <summary>A node; attribute values may be long, int, float or string.</summary>
    public BenchModelWriter Node(string opType, string[] inputs, string[] outputs, string name, string domain, params (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain, Input = { inputs }, Output = { outputs } };
        foreach (var (attrName, value) in attributes)
            node.Attribute.Add(value switch
            {
                float f => new AttributeProto { Name = attrName, Type = AttributeProto.Types.AttributeType.Float, F = f },
                long or int => new AttributeProto { Name = attrName, Type = AttributeProto.Types.AttributeType.Int, I = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) },
                string s => new AttributeProto { Name = attrName, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
                _ => throw new ArgumentException($"unsupported attribute value {value.GetType()}"),
            });
        _model.Graph.Node.Add(node);
        return this;
    }

    /// <summary>Writes the model to <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        const int ModelGraphField = 7, GraphInitializerField = 5, TensorRawDataField = 9;
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        _model.WriteTo(file);
        foreach (var (header, length, data) in _initializers)
        {
            long tensorLength = header.CalculateSize() + FieldSize(TensorRawDataField, length);
            long graphLength = FieldSize(GraphInitializerField, tensorLength);
            var prefix = new CodedOutputStream(file, leaveOpen: true);
            WriteLengthHeader(prefix, ModelGraphField, graphLength);
            WriteLengthHeader(prefix, GraphInitializerField, tensorLength);
            header.WriteTo(prefix);
            WriteLengthHeader(prefix, TensorRawDataField, length);
            prefix.Flush();
            long before = file.Position;
            data(file);
            if (file.Position - before != length)
                throw new InvalidOperationException($"initializer {header.Name}: the data writer wrote {file.Position - before} bytes, {length} declared");
        }
    }

    private static void WriteLengthHeader(CodedOutputStream output, int field, long length)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteUInt64((ulong)length);
    }

    private static long FieldSize(int field, long length) =>
        CodedOutputStream.ComputeTagSize(field) + CodedOutputStream.ComputeUInt64Size((ulong)length) + length;
}
