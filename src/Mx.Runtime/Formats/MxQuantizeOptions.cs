namespace Mx.Runtime.Formats;

/// <summary>How to quantize a tensor: format, block size, block axis, scale choice, element rounding, implementation.</summary>
/// <param name="Format">The MX format.</param>
public sealed record MxQuantizeOptions(MxFormat Format)
{
    /// <summary>Elements per block (8, 16, 32 or 64; MX9/6/4 at least 16). Default: the format's default (32, or 16 for MX9/6/4).</summary>
    public int BlockSize { get; init; } = Format.DefaultBlockSize;

    /// <summary>The block axis; negative counts from the end. Default −1 (the last axis).</summary>
    public int Axis { get; init; } = -1;

    /// <summary>Scale choice per block. Default <see cref="MxScaleMode.Floor"/> (OCP).</summary>
    public MxScaleMode ScaleMode { get; init; } = MxScaleMode.Floor;

    /// <summary>Element rounding. Default <see cref="MxRounding.NearestEven"/> (OCP).</summary>
    public MxRounding Rounding { get; init; } = MxRounding.NearestEven;

    /// <summary>Implementation; all give identical bits. Default <see cref="MxCodecPath.Auto"/>.</summary>
    public MxCodecPath Path { get; init; } = MxCodecPath.Auto;
}
