using System.Buffers.Binary;
using System.IO.Compression;

namespace Mx.Onnx.Tests.Reports;

/// <summary>A minimal PNG reader for test screenshots: 8-bit RGB or RGBA, not interlaced. Pixels as RGBA bytes.</summary>
internal sealed class PngImage
{
    private PngImage(int width, int height, byte[] rgba)
    {
        Width = width;
        Height = height;
        Rgba = rgba;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Rgba { get; }

    public (byte R, byte G, byte B) Pixel(int x, int y)
    {
        int i = (y * Width + x) * 4;
        return (Rgba[i], Rgba[i + 1], Rgba[i + 2]);
    }

    public static PngImage Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        byte[] signature = [137, 80, 78, 71, 13, 10, 26, 10];
        if (file.Length < 8 || !file.AsSpan(0, 8).SequenceEqual(signature)) throw new InvalidDataException($"{path}: not a PNG");
        int width = 0, height = 0, colorType = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 8 <= file.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(file, at + 4, 4);
            var data = file.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                colorType = data[9];
                if (data[8] != 8 || colorType is not (2 or 6) || data[12] != 0)
                    throw new InvalidDataException($"{path}: only 8-bit RGB/RGBA non-interlaced PNGs are read here");
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        int channels = colorType == 6 ? 4 : 3, stride = width * channels;
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new byte[height * (stride + 1)];
        z.ReadExactly(raw);
        var pixels = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            for (int x = 0; x < stride; x++)
            {
                int cur = raw[y * (stride + 1) + 1 + x];
                int a = x >= channels ? pixels[y * stride + x - channels] : 0;
                int b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
                int c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
                pixels[y * stride + x] = (byte)(filter switch
                {
                    0 => cur,
                    1 => cur + a,
                    2 => cur + b,
                    3 => cur + (a + b) / 2,
                    4 => cur + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"{path}: bad filter {filter}"),
                });
            }
        }
        var rgba = new byte[width * height * 4];
        for (int i = 0; i < width * height; i++)
        {
            rgba[i * 4] = pixels[i * channels];
            rgba[i * 4 + 1] = pixels[i * channels + 1];
            rgba[i * 4 + 2] = pixels[i * channels + 2];
            rgba[i * 4 + 3] = channels == 4 ? pixels[i * channels + 3] : (byte)255;
        }
        return new PngImage(width, height, rgba);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
