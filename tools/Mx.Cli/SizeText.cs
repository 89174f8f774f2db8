using System.Globalization;

namespace Mx.Cli;

/// <summary>Byte sizes as the CLI accepts them: a number with an optional unit (B, K/KB/KiB, M/MB/MiB, G/GB/GiB; K = 1024, decimal units are 1000).</summary>
internal static class SizeText
{
    /// <summary>Parses <paramref name="text"/> for <paramref name="option"/>.</summary>
    /// <exception cref="CliException">Not a positive size; the message names the option.</exception>
    public static long Parse(string text, string option)
    {
        string t = text.Trim();
        int split = t.Length;
        while (split > 0 && char.IsLetter(t[split - 1])) split--;
        string unit = t[split..].ToUpperInvariant();
        long factor = unit switch
        {
            "" or "B" => 1,
            "K" or "KIB" => 1L << 10,
            "KB" => 1000,
            "M" or "MIB" => 1L << 20,
            "MB" => 1000_000,
            "G" or "GIB" => 1L << 30,
            "GB" => 1000_000_000,
            _ => throw new CliException($"{option}: unknown unit '{t[split..]}' in '{text}'; use B, KiB, MiB, GiB, KB, MB or GB", 2),
        };
        if (!double.TryParse(t[..split], NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || !(n > 0) || n * factor > long.MaxValue)
            throw new CliException($"{option}: '{text}' is not a positive size (e.g. 2GiB, 500MB, 1048576)", 2);
        return (long)(n * factor);
    }
}
