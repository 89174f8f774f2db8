using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>One choice for a tensor: an MX format with its block settings, or float32 (<see cref="Settings"/> null).</summary>
/// <param name="Settings">The quantization settings; null leaves the tensor in float32.</param>
public sealed record FormatCandidate(TensorSettings? Settings)
{
    /// <summary>The CLI spelling: the format's name (with <c>:scale</c> when the scale mode is not floor), or <c>fp32</c>.</summary>
    public string Name => Settings is null ? Fp32Name : Settings.ScaleMode == MxScaleMode.Floor ? Settings.Format.Name : $"{Settings.Format.Name}:{Settings.ScaleText}";

    /// <summary>The name of the float32 choice.</summary>
    public const string Fp32Name = "fp32";

    /// <summary>The default candidates: MXFP4, MXFP6 E2M3, MXFP6 E3M2, MXFP8 E4M3, MXINT8 and fp32.</summary>
    public static IReadOnlyList<FormatCandidate> Defaults { get; } = Parse("mxfp4_e2m1,mxfp6_e2m3,mxfp6_e3m2,mxfp8_e4m3,mxint8,fp32");

    /// <summary>
    /// Parses a comma-separated list of format names (and <c>fp32</c>); each format uses its default block size,
    /// floor scales and round-half-even, unless <paramref name="scale"/> / <paramref name="blockSize"/> say otherwise,
    /// or the name carries its scale mode (<c>mxfp4_e2m1:mse</c>).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown name, or an empty list.</exception>
    public static IReadOnlyList<FormatCandidate> Parse(string list, MxScaleMode scale = MxScaleMode.Floor, int? blockSize = null)
    {
        ArgumentNullException.ThrowIfNull(list);
        var result = new List<FormatCandidate>();
        foreach (string part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals(Fp32Name, StringComparison.OrdinalIgnoreCase) || part.Equals("none", StringComparison.OrdinalIgnoreCase))
            {
                result.Add(new FormatCandidate((TensorSettings?)null));
                continue;
            }
            int colon = part.IndexOf(':', StringComparison.Ordinal);
            var f = MxFormats.Parse(colon < 0 ? part : part[..colon]);
            var mode = colon < 0 ? scale : QuantizationText.ParseScale(part[(colon + 1)..]);
            result.Add(new FormatCandidate(new TensorSettings(f, blockSize ?? f.DefaultBlockSize, mode, MxRounding.NearestEven)));
        }
        if (result.Count == 0) throw new ArgumentException("the candidate list is empty");
        return result.DistinctBy(c => c.Name).ToList();
    }

    /// <summary>Each quantizing candidate in every one of <paramref name="scales"/> (fp32 once), in candidate order.</summary>
    public static IReadOnlyList<FormatCandidate> WithScales(IReadOnlyList<FormatCandidate> candidates, IReadOnlyList<MxScaleMode> scales)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(scales);
        return candidates.SelectMany(c => c.Settings is null ? [c] : scales.Select(m => new FormatCandidate(c.Settings with { ScaleMode = m })))
            .DistinctBy(c => c.Name).ToList();
    }

    /// <summary>
    /// Stored bits of a weight laid out as <paramref name="rows"/> × <paramref name="k"/> (blocks along K, padded to
    /// whole blocks), scales and micro-exponents included; float32 is 32 bits per element.
    /// </summary>
    public long StoredBits(long rows, long k)
    {
        if (Settings is null) return rows * k * 32;
        var f = Settings.Format;
        long blocks = (k + Settings.BlockSize - 1) / Settings.BlockSize;
        long perBlock = (long)Settings.BlockSize * f.ElementBits + 8;
        if (f.SubBlockSize > 0) perBlock += Settings.BlockSize / f.SubBlockSize;
        return rows * blocks * perBlock;
    }
}
