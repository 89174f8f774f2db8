namespace Mx.Runtime.IO;

/// <summary>The NumPy dtype strings (<c>descr</c>) this project reads and writes, all little-endian.</summary>
internal static class NpyDtype
{
    private static readonly (string Descr, TensorElementType Type)[] Table =
    [
        ("<f4", TensorElementType.Float), ("<f2", TensorElementType.Float16), ("<f8", TensorElementType.Double),
        ("<i8", TensorElementType.Int64), ("<i4", TensorElementType.Int32), ("|i1", TensorElementType.Int8),
        ("|u1", TensorElementType.UInt8), ("|b1", TensorElementType.Bool),
    ];

    /// <summary>The descr written for <paramref name="type"/>.</summary>
    public static string Descr(TensorElementType type, string file) =>
        Table.FirstOrDefault(e => e.Type == type).Descr
        ?? throw new NpyFormatException($"{file}: cannot write a {type.OnnxName()} tensor as .npy; supported: {Supported}");

    /// <summary>
    /// The element type for a descr. One-byte types accept any byte-order mark ('|', '&lt;', '&gt;', '=');
    /// wider types must be little-endian ('&lt;', or '=' on this little-endian machine).
    /// </summary>
    public static TensorElementType Parse(string descr, string where)
    {
        if (descr.Length >= 2 && (descr[1] is 'i' or 'u' or 'b') && descr.EndsWith('1') && descr.Length == 3 && descr[0] is '|' or '<' or '>' or '=')
            descr = "|" + descr[1..];
        else if (descr.StartsWith('=')) descr = "<" + descr[1..];
        foreach (var (d, t) in Table)
            if (d == descr) return t;
        string why = descr.StartsWith('>') ? "big-endian data is not supported"
            : descr.Contains('O') ? "object arrays are not supported"
            : descr.Contains('U') || descr.Contains('S') ? "string/unicode arrays are not supported"
            : "unsupported dtype";
        throw new NpyFormatException($"{where}: dtype '{descr}': {why}; supported: {Supported}");
    }

    private static string Supported => string.Join(", ", Table.Select(e => $"{e.Descr} ({e.Type.OnnxName()})"));
}
