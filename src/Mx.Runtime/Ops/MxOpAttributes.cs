using Mx.Runtime.Formats;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// Reading and validating the attributes the MX ops share (docs/ops.md). Every failure is an
/// <see cref="ArgumentException"/> whose message says which attribute is wrong and why; ORT prefixes it with the op and
/// node name, so the user sees e.g. <c>mx.onnx.MxMatMul node 'fc1': kernel creation failed: attribute 'K' …</c>.
/// </summary>
internal static class MxOpAttributes
{
    /// <summary>The required <c>format</c> attribute.</summary>
    public static MxFormat Format(KernelInfo info, string name = "format")
    {
        if (!info.TryGetString(name, out string? text) || string.IsNullOrEmpty(text))
            throw new ArgumentException($"missing required string attribute '{name}' (an MX format name: {KnownFormats})");
        return Parse(text, name);
    }

    /// <summary>An MX format name given in attribute <paramref name="name"/>.</summary>
    public static MxFormat Parse(string text, string name) =>
        MxFormats.TryParse(text, out var f) ? f : throw new ArgumentException($"attribute '{name}' = '{text}' is not a known MX format; known formats: {KnownFormats}");

    /// <summary>
    /// The <c>block_size</c> attribute (default: the format's default), checked against the packed layout's rules:
    /// 8, 16, 32 or 64, at least 16 for MX9/MX6/MX4, and at most <paramref name="maxSharedMicro"/> for them when the
    /// consumer cannot read more than one micro byte per block.
    /// </summary>
    public static int BlockSize(KernelInfo info, MxFormat format, int maxSharedMicro = 64)
    {
        long bs = info.GetInt("block_size", format.DefaultBlockSize);
        if (!MxPackedLayout.SupportedBlockSizes.Contains((int)bs) || bs != (int)bs)
            throw new ArgumentException($"attribute 'block_size' = {bs} is not supported; use one of {string.Join(", ", MxPackedLayout.SupportedBlockSizes)}");
        if (format.Kind == MxElementKind.SharedMicroExponent && (bs < 16 || bs > maxSharedMicro))
            throw new ArgumentException(maxSharedMicro == 16
                ? $"attribute 'block_size' = {bs} is not supported for {format.Name} here; this op needs 16"
                : $"attribute 'block_size' = {bs} is not supported for {format.Name}; use 16, 32 or 64");
        return (int)bs;
    }

    /// <summary>A required int attribute that must be in [1, int.MaxValue].</summary>
    public static int PositiveInt(KernelInfo info, string name)
    {
        if (!info.TryGetInt(name, out long v))
            throw new ArgumentException($"missing required int attribute '{name}'");
        if (v < 1 || v > int.MaxValue) throw new ArgumentException($"attribute '{name}' = {v} must be a positive 32-bit integer");
        return (int)v;
    }

    /// <summary>The <c>scale_mode</c> attribute: floor (default), ceil or mse.</summary>
    public static MxScaleMode ScaleMode(KernelInfo info) => info.GetString("scale_mode", "floor") switch
    {
        "floor" => MxScaleMode.Floor,
        "ceil" => MxScaleMode.Ceil,
        "mse" => MxScaleMode.Mse,
        var s => throw new ArgumentException($"attribute 'scale_mode' = '{s}' is not supported; use floor, ceil or mse"),
    };

    /// <summary>The <c>rounding</c> attribute: even (default) or away.</summary>
    public static MxRounding Rounding(KernelInfo info) => info.GetString("rounding", "even") switch
    {
        "even" => MxRounding.NearestEven,
        "away" => MxRounding.NearestAway,
        var s => throw new ArgumentException($"attribute 'rounding' = '{s}' is not supported; use even or away"),
    };

    private static string KnownFormats => string.Join(", ", MxFormats.All.Select(f => f.Name));
}
