using System.Text;

namespace Mx.Runtime.Tests.Ort;

/// <summary>
/// A test-only writer of small ONNX ModelProto files, hand-encoded in the protobuf wire format (this test project cannot
/// reference the protobuf-based Mx.Onnx). Covers what the tests need: opset imports, graph inputs/outputs with
/// element types and fixed, symbolic or unknown dimensions, nodes with attributes, and raw-data initializers.
/// </summary>
internal sealed class TestModelWriter
{
    private readonly List<(string Domain, long Version)> _opsets = [("", 17)];
    private readonly List<byte[]> _nodes = [];
    private readonly List<byte[]> _inputs = [];
    private readonly List<byte[]> _outputs = [];
    private readonly List<byte[]> _initializers = [];

    public long IrVersion { get; set; } = 8;

    public TestModelWriter Opset(string domain, long version)
    {
        _opsets.RemoveAll(o => o.Domain == domain);
        _opsets.Add((domain, version));
        return this;
    }

    /// <summary>A graph input; each dim is a long (fixed), a string (symbolic) or null (unknown).</summary>
    public TestModelWriter Input(string name, TensorElementType type, params object?[] dims)
    {
        _inputs.Add(ValueInfo(name, type, dims));
        return this;
    }

    public TestModelWriter Output(string name, TensorElementType type, params object?[] dims)
    {
        _outputs.Add(ValueInfo(name, type, dims));
        return this;
    }

    public TestModelWriter Initializer(string name, HostTensor t)
    {
        var w = new Pb();
        foreach (long d in t.Shape) w.Varint(1, (ulong)d);
        w.Varint(2, (ulong)(int)t.ElementType);
        w.String(8, name);
        w.Bytes(9, t.Data);
        _initializers.Add(w.ToArray());
        return this;
    }

    /// <summary>A node; attribute values may be float, long/int, string, float[] or long[].</summary>
    public TestModelWriter Node(string opType, string[] inputs, string[] outputs, string name = "", string domain = "", params (string Name, object Value)[] attributes)
    {
        var w = new Pb();
        foreach (var i in inputs) w.String(1, i);
        foreach (var o in outputs) w.String(2, o);
        w.String(3, name);
        w.String(4, opType);
        foreach (var (an, av) in attributes) w.Message(5, Attribute(an, av));
        if (domain.Length > 0) w.String(7, domain);
        _nodes.Add(w.ToArray());
        return this;
    }

    public byte[] ToBytes()
    {
        var g = new Pb();
        foreach (var n in _nodes) g.Bytes(1, n);
        g.String(2, "test");
        foreach (var t in _initializers) g.Bytes(5, t);
        foreach (var i in _inputs) g.Bytes(11, i);
        foreach (var o in _outputs) g.Bytes(12, o);
        var m = new Pb();
        m.Varint(1, (ulong)IrVersion);
        m.String(2, "mx-tests");
        m.Bytes(7, g.ToArray());
        foreach (var (domain, version) in _opsets)
        {
            var o = new Pb();
            o.String(1, domain);
            o.Varint(2, (ulong)version);
            m.Bytes(8, o.ToArray());
        }
        return m.ToArray();
    }

    private static byte[] ValueInfo(string name, TensorElementType type, object?[] dims)
    {
        var shape = new Pb();
        foreach (var d in dims)
        {
            var dim = new Pb();
            if (d is string s) dim.String(2, s);
            else if (d is not null) dim.Varint(1, (ulong)Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
            shape.Bytes(1, dim.ToArray());
        }
        var tensor = new Pb();
        tensor.Varint(1, (ulong)(int)type);
        tensor.Bytes(2, shape.ToArray());
        var typeProto = new Pb();
        typeProto.Bytes(1, tensor.ToArray());
        var vi = new Pb();
        vi.String(1, name);
        vi.Bytes(2, typeProto.ToArray());
        return vi.ToArray();
    }

    private static Pb Attribute(string name, object value)
    {
        var a = new Pb();
        a.String(1, name);
        switch (value)
        {
            case float f: a.Fixed32(2, BitConverter.SingleToUInt32Bits(f)); a.Varint(20, 1); break;
            case int or long: a.Varint(3, (ulong)Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)); a.Varint(20, 2); break;
            case string s: a.Bytes(4, Encoding.UTF8.GetBytes(s)); a.Varint(20, 3); break;
            case float[] fs: foreach (var f in fs) a.Fixed32(7, BitConverter.SingleToUInt32Bits(f)); a.Varint(20, 6); break;
            case long[] ls: foreach (var l in ls) a.Varint(8, (ulong)l); a.Varint(20, 7); break;
            default: throw new ArgumentException($"unsupported attribute value {value.GetType()}");
        }
        return a;
    }

    /// <summary>Protobuf wire-format writer: varint (type 0), fixed32 (type 5), length-delimited (type 2).</summary>
    private sealed class Pb
    {
        private readonly MemoryStream _s = new();

        public void Varint(int field, ulong v)
        {
            Tag(field, 0);
            Raw(v);
        }

        public void Fixed32(int field, uint v)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            _s.Write(b);
        }

        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

        public void Message(int field, Pb m) => Bytes(field, m.ToArray());

        public void Bytes(int field, ReadOnlySpan<byte> b)
        {
            Tag(field, 2);
            Raw((ulong)b.Length);
            _s.Write(b);
        }

        public byte[] ToArray() => _s.ToArray();

        private void Tag(int field, int wireType) => Raw((ulong)((field << 3) | wireType));

        private void Raw(ulong v)
        {
            while (v >= 0x80)
            {
                _s.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }
            _s.WriteByte((byte)v);
        }
    }
}
