using System.Text;

namespace Mx.Bench;

/// <summary>
/// A minimal ONNX ModelProto writer for benchmark models (Mx.Bench must not depend on the protobuf layer for this):
/// graph inputs/outputs with fixed or symbolic dims, nodes with int/float/string attributes, and raw-data
/// initializers whose bytes are produced straight into the file by a callback, so a model with hundreds of MB of
/// weights is written without holding them in memory.
/// </summary>
internal sealed class BenchModelWriter
{
    /// <summary>Writes <c>length</c> bytes of one initializer's raw data into the stream.</summary>
    public delegate void DataWriter(Stream destination);

    private readonly List<(string Domain, long Version)> _opsets = [("", 17)];
    private readonly List<byte[]> _nodes = [], _inputs = [], _outputs = [];
    private readonly List<(byte[] Header, long Length, DataWriter Data)> _initializers = [];

    /// <summary>Imports an op-set domain.</summary>
    public BenchModelWriter Opset(string domain, long version)
    {
        _opsets.Add((domain, version));
        return this;
    }

    /// <summary>A graph input; dims are longs (fixed) or strings (symbolic). Element type: ONNX TensorProto.DataType.</summary>
    public BenchModelWriter Input(string name, int elementType, params object[] dims)
    {
        _inputs.Add(ValueInfo(name, elementType, dims));
        return this;
    }

    /// <summary>A graph output.</summary>
    public BenchModelWriter Output(string name, int elementType, params object[] dims)
    {
        _outputs.Add(ValueInfo(name, elementType, dims));
        return this;
    }

    /// <summary>An initializer of <paramref name="dims"/> whose raw little-endian bytes <paramref name="data"/> writes.</summary>
    public BenchModelWriter Initializer(string name, int elementType, long[] dims, long byteLength, DataWriter data)
    {
        var h = new Pb();
        foreach (long d in dims) h.Varint(1, (ulong)d);
        h.Varint(2, (ulong)elementType);
        h.String(8, name);
        _initializers.Add((h.ToArray(), byteLength, data));
        return this;
    }

    /// <summary>A node; attribute values may be long, float or string.</summary>
    public BenchModelWriter Node(string opType, string[] inputs, string[] outputs, string name, string domain, params (string Name, object Value)[] attributes)
    {
        var w = new Pb();
        foreach (var i in inputs) w.String(1, i);
        foreach (var o in outputs) w.String(2, o);
        w.String(3, name);
        w.String(4, opType);
        foreach (var (an, av) in attributes)
        {
            var a = new Pb();
            a.String(1, an);
            switch (av)
            {
                case float f: a.Fixed32(2, BitConverter.SingleToUInt32Bits(f)); a.Varint(20, 1); break;
                case long or int: a.Varint(3, (ulong)Convert.ToInt64(av, System.Globalization.CultureInfo.InvariantCulture)); a.Varint(20, 2); break;
                case string s: a.Bytes(4, Encoding.UTF8.GetBytes(s)); a.Varint(20, 3); break;
                default: throw new ArgumentException($"unsupported attribute value {av.GetType()}");
            }
            w.Bytes(5, a.ToArray());
        }
        if (domain.Length > 0) w.String(7, domain);
        _nodes.Add(w.ToArray());
        return this;
    }

    /// <summary>Writes the model to <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        // GraphProto: node = 1, name = 2, initializer = 5 (TensorProto, raw_data = 9), input = 11, output = 12.
        long graphLength = 0;
        foreach (var n in _nodes) graphLength += FieldLength(1, n.Length);
        graphLength += FieldLength(2, 5);
        foreach (var t in _initializers) graphLength += FieldLength(5, InitializerLength(t.Header, t.Length));
        foreach (var i in _inputs) graphLength += FieldLength(11, i.Length);
        foreach (var o in _outputs) graphLength += FieldLength(12, o.Length);

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var head = new Pb();
        head.Varint(1, 8);                       // ir_version
        head.String(2, "mx-bench");              // producer_name
        foreach (var (domain, version) in _opsets)
        {
            var o = new Pb();
            o.String(1, domain);
            o.Varint(2, (ulong)version);
            head.Bytes(8, o.ToArray());
        }
        head.Header(7, graphLength);             // graph
        head.WriteTo(file);
        var g = new Pb();
        foreach (var n in _nodes) g.Bytes(1, n);
        g.String(2, "bench");
        g.WriteTo(file);
        foreach (var (header, length, data) in _initializers)
        {
            var t = new Pb();
            t.Header(5, InitializerLength(header, length));
            t.Raw(header);
            t.Header(9, length);
            t.WriteTo(file);
            long before = file.Position;
            data(file);
            if (file.Position - before != length) throw new InvalidOperationException($"initializer data writer wrote {file.Position - before} bytes, {length} declared");
        }
        var io = new Pb();
        foreach (var i in _inputs) io.Bytes(11, i);
        foreach (var o in _outputs) io.Bytes(12, o);
        io.WriteTo(file);
    }

    private static long InitializerLength(byte[] header, long dataLength) => header.Length + FieldLength(9, dataLength);

    private static long FieldLength(int field, long length) => VarintLength((ulong)(field << 3)) + VarintLength((ulong)length) + length;

    private static int VarintLength(ulong v)
    {
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }

    private static byte[] ValueInfo(string name, int type, object[] dims)
    {
        var shape = new Pb();
        foreach (var d in dims)
        {
            var dim = new Pb();
            if (d is string s) dim.String(2, s);
            else dim.Varint(1, (ulong)Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            shape.Bytes(1, dim.ToArray());
        }
        var tensor = new Pb();
        tensor.Varint(1, (ulong)type);
        tensor.Bytes(2, shape.ToArray());
        var typeProto = new Pb();
        typeProto.Bytes(1, tensor.ToArray());
        var vi = new Pb();
        vi.String(1, name);
        vi.Bytes(2, typeProto.ToArray());
        return vi.ToArray();
    }

    /// <summary>Protobuf wire format: varint (type 0), fixed32 (type 5), length-delimited (type 2).</summary>
    private sealed class Pb
    {
        private readonly MemoryStream _s = new();

        public void Varint(int field, ulong v) { Key(field, 0); Raw(v); }

        public void Fixed32(int field, uint v)
        {
            Key(field, 5);
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            _s.Write(b);
        }

        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

        public void Bytes(int field, ReadOnlySpan<byte> b) { Header(field, b.Length); _s.Write(b); }

        /// <summary>The key and length of a length-delimited field whose content follows separately.</summary>
        public void Header(int field, long length) { Key(field, 2); Raw((ulong)length); }

        public void Raw(ReadOnlySpan<byte> b) => _s.Write(b);

        public byte[] ToArray() => _s.ToArray();

        public void WriteTo(Stream s) => _s.WriteTo(s);

        private void Key(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

        private void Raw(ulong v)
        {
            while (v >= 0x80) { _s.WriteByte((byte)(v | 0x80)); v >>= 7; }
            _s.WriteByte((byte)v);
        }
    }
}
