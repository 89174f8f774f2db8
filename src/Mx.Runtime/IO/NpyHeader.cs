using System.Globalization;
using System.Text;

namespace Mx.Runtime.IO;

/// <summary>
/// The .npy header: magic <c>\x93NUMPY</c>, version (1.0, 2.0 or 3.0), header length (2 bytes in 1.0, 4 after), then a
/// Python dict literal <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (2, 3), }</c> padded with spaces and a
/// newline. Version 3.0 differs from 2.0 only in allowing UTF-8 in the header.
/// </summary>
internal static class NpyHeader
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads the header; on return the stream is at the first data byte.</summary>
    public static (TensorElementType Type, long[] Shape) Read(Stream s, string where)
    {
        Span<byte> pre = stackalloc byte[8];
        if (ReadFully(s, pre) < 8 || !pre[..6].SequenceEqual(Magic))
            throw new NpyFormatException($"{where}: not a .npy file (no \\x93NUMPY magic)");
        byte major = pre[6];
        int lenBytes = major switch
        {
            1 => 2,
            2 or 3 => 4,
            _ => throw new NpyFormatException($"{where}: .npy format version {major}.{pre[7]} is not supported (1.0, 2.0, 3.0 are)"),
        };
        Span<byte> lenBuf = stackalloc byte[4];
        if (ReadFully(s, lenBuf[..lenBytes]) < lenBytes) throw new NpyFormatException($"{where}: truncated .npy header");
        long len = lenBytes == 2 ? BitConverter.ToUInt16(lenBuf) : BitConverter.ToUInt32(lenBuf);
        if (len > 1 << 24) throw new NpyFormatException($"{where}: .npy header length {len} is implausible");
        var header = new byte[len];
        if (ReadFully(s, header) < len) throw new NpyFormatException($"{where}: truncated .npy header ({len} bytes announced)");
        string text = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(header);
        return Parse(text, where);
    }

    /// <summary>Parses the dict literal.</summary>
    public static (TensorElementType Type, long[] Shape) Parse(string text, string where)
    {
        var p = new DictParser(text, where);
        var dict = p.ParseDict();
        if (!dict.TryGetValue("descr", out var descr) || descr is not string d)
            throw new NpyFormatException($"{where}: .npy header has no 'descr' string: {text.Trim()}");
        if (!dict.TryGetValue("fortran_order", out var fo) || fo is not bool fortran)
            throw new NpyFormatException($"{where}: .npy header has no 'fortran_order' True/False: {text.Trim()}");
        if (!dict.TryGetValue("shape", out var sh) || sh is not long[] shape)
            throw new NpyFormatException($"{where}: .npy header has no 'shape' tuple: {text.Trim()}");
        if (fortran && shape.Count(x => x != 1) > 1)
            throw new NpyFormatException($"{where}: Fortran-order (column-major) arrays are not supported; save with C order (np.ascontiguousarray)");
        return (NpyDtype.Parse(d, where), shape);
    }

    /// <summary>The complete header bytes (magic to newline) for a tensor; data starts at a multiple of 64 bytes.</summary>
    public static byte[] Build(TensorElementType type, long[] shape, string where)
    {
        string shapeText = shape.Length == 1
            ? $"({shape[0].ToString(CultureInfo.InvariantCulture)},)"
            : "(" + string.Join(", ", shape.Select(x => x.ToString(CultureInfo.InvariantCulture))) + ")";
        string dict = $"{{'descr': '{NpyDtype.Descr(type, where)}', 'fortran_order': False, 'shape': {shapeText}, }}";
        byte[] body = Encoding.ASCII.GetBytes(dict);
        bool v1 = body.Length + 1 + 10 <= ushort.MaxValue;
        int prefix = v1 ? 10 : 12;
        int total = (prefix + body.Length + 1 + 63) / 64 * 64;
        var result = new byte[total];
        Magic.CopyTo(result);
        result[6] = (byte)(v1 ? 1 : 2);
        result[7] = 0;
        int headerLen = total - prefix;
        if (v1) BitConverter.TryWriteBytes(result.AsSpan(8, 2), (ushort)headerLen);
        else BitConverter.TryWriteBytes(result.AsSpan(8, 4), (uint)headerLen);
        body.CopyTo(result, prefix);
        result.AsSpan(prefix + body.Length, total - prefix - body.Length - 1).Fill((byte)' ');
        result[^1] = (byte)'\n';
        return result;
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Just enough of Python literal syntax for a .npy header: a dict of string keys to strings, True/False, ints and int tuples.</summary>
    private sealed class DictParser(string text, string where)
    {
        private int _i;

        public Dictionary<string, object> ParseDict()
        {
            var d = new Dictionary<string, object>(StringComparer.Ordinal);
            Expect('{');
            while (true)
            {
                Skip();
                if (Peek() == '}') { _i++; break; }
                string key = ParseString();
                Expect(':');
                d[key] = ParseValue();
                Skip();
                if (Peek() == ',') { _i++; continue; }
                Expect('}');
                break;
            }
            return d;
        }

        private object ParseValue()
        {
            Skip();
            char c = Peek();
            if (c is '\'' or '"') return ParseString();
            if (c == '(') return ParseTuple();
            if (text.AsSpan(_i).StartsWith("True")) { _i += 4; return true; }
            if (text.AsSpan(_i).StartsWith("False")) { _i += 5; return false; }
            if (char.IsDigit(c) || c == '-') return ParseInt();
            throw Error($"unexpected '{c}'");
        }

        private long[] ParseTuple()
        {
            Expect('(');
            var items = new List<long>();
            while (true)
            {
                Skip();
                if (Peek() == ')') { _i++; break; }
                items.Add(ParseInt());
                Skip();
                if (Peek() == ',') { _i++; continue; }
                Expect(')');
                break;
            }
            return [.. items];
        }

        private long ParseInt()
        {
            Skip();
            int start = _i;
            if (Peek() == '-') _i++;
            while (_i < text.Length && char.IsDigit(text[_i])) _i++;
            if (_i < text.Length && text[_i] == 'L') _i++; // Python 2 longs
            string s = text[start.._i].TrimEnd('L');
            if (!long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) || v < 0)
                throw Error($"bad dimension '{s}'");
            return v;
        }

        private string ParseString()
        {
            Skip();
            char q = Peek();
            if (q is not ('\'' or '"')) throw Error("expected a quoted string");
            int end = text.IndexOf(q, _i + 1);
            if (end < 0) throw Error("unterminated string");
            string s = text[(_i + 1)..end];
            _i = end + 1;
            return s;
        }

        private void Expect(char c)
        {
            Skip();
            if (Peek() != c) throw Error($"expected '{c}'");
            _i++;
        }

        private char Peek() => _i < text.Length ? text[_i] : '\0';

        private void Skip()
        {
            while (_i < text.Length && char.IsWhiteSpace(text[_i])) _i++;
        }

        private NpyFormatException Error(string what) =>
            new($"{where}: .npy header does not parse ({what} at position {_i}): {text.Trim()}");
    }
}
