namespace Mx.Runtime.Tests.Formats;

/// <summary>
/// A tiny protobuf wire-format reader for the ONNX test files (TensorProto .pb and the Cast models), so this project
/// needs no protobuf dependency. Reads fields as (number, wire type, value) and decodes only what the tests use.
/// </summary>
internal static class ProtoReader
{
    public readonly record struct Field(int Number, int WireType, ulong Varint, ReadOnlyMemory<byte> Bytes);

    public static IEnumerable<Field> Fields(ReadOnlyMemory<byte> message)
    {
        int pos = 0;
        while (pos < message.Length)
        {
            ulong key = Varint(message.Span, ref pos);
            int number = (int)(key >> 3), wire = (int)(key & 7);
            switch (wire)
            {
                case 0: yield return new Field(number, wire, Varint(message.Span, ref pos), default); break;
                case 1: yield return new Field(number, wire, 0, message.Slice(pos, 8)); pos += 8; break;
                case 2:
                    int len = (int)Varint(message.Span, ref pos);
                    yield return new Field(number, wire, 0, message.Slice(pos, len));
                    pos += len;
                    break;
                case 5: yield return new Field(number, wire, 0, message.Slice(pos, 4)); pos += 4; break;
                default: throw new InvalidDataException($"unsupported wire type {wire}");
            }
        }
    }

    private static ulong Varint(ReadOnlySpan<byte> s, ref int pos)
    {
        ulong r = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = s[pos++];
            r |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return r;
        }
    }

    /// <summary>A TensorProto: dims (1), data_type (2), raw_data (9); int32_data (5) and float_data (4) are turned into raw bytes.</summary>
    public sealed record Tensor(long[] Dims, int DataType, byte[] Raw, int[] Int32Data);

    public static Tensor ReadTensor(string path)
    {
        var dims = new List<long>();
        int type = 0;
        var raw = new List<byte>();
        var ints = new List<int>();
        foreach (var f in Fields(File.ReadAllBytes(path)))
        {
            switch (f.Number)
            {
                case 1 when f.WireType == 0: dims.Add((long)f.Varint); break;
                case 1 when f.WireType == 2: { int p = 0; var s = f.Bytes.Span; while (p < s.Length) dims.Add((long)Varint(s, ref p)); break; }
                case 2: type = (int)f.Varint; break;
                case 4 when f.WireType == 2: raw.AddRange(f.Bytes.ToArray()); break;
                case 4 when f.WireType == 5: raw.AddRange(f.Bytes.ToArray()); break;
                case 5 when f.WireType == 0: ints.Add((int)f.Varint); break;
                case 5 when f.WireType == 2: { int p = 0; var s = f.Bytes.Span; while (p < s.Length) ints.Add((int)Varint(s, ref p)); break; }
                case 9: raw.AddRange(f.Bytes.ToArray()); break;
            }
        }
        return new Tensor(dims.ToArray(), type, raw.ToArray(), ints.ToArray());
    }

    /// <summary>The attributes of the first node of a model's graph: name → (int value, string value).</summary>
    public static Dictionary<string, (long I, string S)> FirstNodeAttributes(string modelPath)
    {
        var result = new Dictionary<string, (long, string)>();
        foreach (var g in Fields(File.ReadAllBytes(modelPath)).Where(f => f.Number == 7))
            foreach (var node in Fields(g.Bytes).Where(f => f.Number == 1).Take(1))
                foreach (var attr in Fields(node.Bytes).Where(f => f.Number == 5))
                {
                    string name = "", s = "";
                    long i = 0;
                    foreach (var a in Fields(attr.Bytes))
                    {
                        if (a.Number == 1) name = System.Text.Encoding.UTF8.GetString(a.Bytes.Span);
                        else if (a.Number == 3) i = (long)a.Varint;
                        else if (a.Number == 4) s = System.Text.Encoding.UTF8.GetString(a.Bytes.Span);
                    }
                    result[name] = (i, s);
                }
        return result;
    }
}
