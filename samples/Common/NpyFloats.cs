using System.Globalization;
using System.Text;

namespace Mx.Samples;

/// <summary>
/// Just enough of NumPy's .npy format for the samples (which reference no project library): little-endian float32,
/// C order. Writing is what `mx run --input` reads; reading is what `mx run` writes.
/// </summary>
internal static class NpyFloats
{
    public static void Write(string path, float[] values, long[] shape)
    {
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        header += new string(' ', 63 - (10 + header.Length) % 64) + "\n";
        using var file = File.Create(path);
        file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        file.Write(BitConverter.GetBytes((ushort)header.Length));
        file.Write(Encoding.ASCII.GetBytes(header));
        foreach (float v in values) file.Write(BitConverter.GetBytes(v));
    }

    public static float[] Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int headerLength = BitConverter.ToUInt16(bytes, 8);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        if (!header.Contains("'<f4'", StringComparison.Ordinal)) throw new InvalidDataException($"{path}: not a float32 .npy file ({header.Trim()})");
        int start = 10 + headerLength;
        var values = new float[(bytes.Length - start) / 4];
        Buffer.BlockCopy(bytes, start, values, 0, values.Length * 4);
        return values;
    }

    public static string Text(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
