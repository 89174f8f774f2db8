namespace Mx.Runtime.IO;

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0) as <see cref="HostTensor"/>s, C order,
/// for float32, float16, float64, int64, int32, int8, uint8 and bool. Errors are <see cref="NpyFormatException"/>s
/// naming the file and the problem (Fortran order, unsupported dtype, unparsable header, wrong data length).
/// </summary>
public static class NpyFile
{
    /// <summary>Reads the .npy file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="NpyFormatException">The file is not a readable .npy file.</exception>
    public static HostTensor Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        using var s = File.OpenRead(path);
        return Read(s, path, s.Length);
    }

    /// <summary>
    /// Reads one .npy image from <paramref name="stream"/>; <paramref name="where"/> names it in errors (file, or
    /// archive and member). <paramref name="length"/> is the image's total length when known, to detect trailing bytes.
    /// </summary>
    public static HostTensor Read(Stream stream, string where, long? length = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var (type, shape) = NpyHeader.Read(stream, where);
        long count;
        try
        {
            count = HostTensor.ElementCountOf(shape);
        }
        catch (OverflowException)
        {
            throw new NpyFormatException($"{where}: shape ({string.Join(", ", shape)}) has too many elements");
        }
        long bytes = type.ByteCount(count);
        string shapeText = $"{type.OnnxName()}[{string.Join(", ", shape)}]";
        if (bytes > Array.MaxLength) throw new NpyFormatException($"{where}: {shapeText} needs {bytes} bytes, more than one array can hold");
        if (length is long total && stream.CanSeek)
        {
            long available = total - stream.Position;
            if (available != bytes)
                throw new NpyFormatException($"{where}: data is {available} bytes but shape {shapeText} needs {bytes}");
        }
        var data = new byte[bytes];
        int read = 0;
        while (read < data.Length)
        {
            int n = stream.Read(data, read, data.Length - read);
            if (n == 0) throw new NpyFormatException($"{where}: data is {read} bytes but shape {shapeText} needs {bytes}");
            read += n;
        }
        if (length is null && stream.ReadByte() >= 0)
            throw new NpyFormatException($"{where}: data is longer than shape {shapeText} needs ({bytes} bytes)");
        if (type == TensorElementType.Bool)
            foreach (byte b in data)
                if (b > 1) throw new NpyFormatException($"{where}: bool data holds byte {b}; only 0 and 1 are valid");
        return new HostTensor(type, shape, data);
    }

    /// <summary>
    /// Writes <paramref name="tensor"/> to <paramref name="path"/> as .npy (version 1.0, or 2.0 for a header above
    /// 64 KiB). Writes a temporary file beside it and renames it into place, so the path never holds half a file.
    /// </summary>
    /// <exception cref="NpyFormatException">The element type has no .npy dtype here.</exception>
    public static void Write(string path, HostTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        byte[] header = NpyHeader.Build(tensor.ElementType, tensor.Shape, path);
        AtomicFile.Write(path, s =>
        {
            s.Write(header);
            s.Write(tensor.Data);
        });
    }

    /// <summary>Writes the .npy image of <paramref name="tensor"/> to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, HostTensor tensor, string where)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensor);
        stream.Write(NpyHeader.Build(tensor.ElementType, tensor.Shape, where));
        stream.Write(tensor.Data);
    }
}
