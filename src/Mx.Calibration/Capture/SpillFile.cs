using System.Runtime.InteropServices;

using Mx.Calibration.Linear;

namespace Mx.Calibration.Capture;

/// <summary>Float64 arrays written to and read back from raw little-endian files (statistics spilled out of memory).</summary>
public static class SpillFile
{
    /// <summary>Writes a Gram matrix in full (what <see cref="GramAccumulator.ToFull"/> gives) without a full copy in memory (a temporary name, then renamed); returns the path.</summary>
    public static string WriteGram(string path, GramAccumulator gram)
    {
        ArgumentNullException.ThrowIfNull(gram);
        string temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            gram.WriteFull(f);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>Reads a file written by <see cref="WriteGram"/>.</summary>
    /// <exception cref="InvalidDataException">The file's length is not a whole number of doubles.</exception>
    public static double[] ReadDoubles(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        if (f.Length % sizeof(double) != 0) throw new InvalidDataException($"{path}: {f.Length} bytes is not a whole number of float64 values");
        var values = new double[f.Length / sizeof(double)];
        f.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }
}
