namespace Mx.Runtime.Formats;

/// <summary>
/// An MX-packed tensor: element codes, E8M0 scale bytes and (MX9/6/4) micro-exponent bytes, exactly as
/// docs/packed-layout.md lays them out, with the <see cref="Layout"/> that describes them. Either owns its buffers
/// (from <see cref="MxQuantizer"/>) or is a view over existing memory (<c>View</c>, no copy).
/// </summary>
public sealed class MxPackedTensor
{
    private MxPackedTensor(MxPackedLayout layout, ReadOnlyMemory<byte> elements, ReadOnlyMemory<byte> scales, ReadOnlyMemory<byte> micro)
    {
        Layout = layout;
        Elements = elements;
        Scales = scales;
        Micro = micro;
    }

    /// <summary>Geometry: format, shape, axis, block size and buffer sizes.</summary>
    public MxPackedLayout Layout { get; }

    /// <summary>The format.</summary>
    public MxFormat Format => Layout.Format;

    /// <summary>Element codes, [rows, rowBytes].</summary>
    public ReadOnlyMemory<byte> Elements { get; }

    /// <summary>E8M0 scale bytes, [rows, blocksPerRow].</summary>
    public ReadOnlyMemory<byte> Scales { get; }

    /// <summary>Micro-exponent bytes, [rows, blocksPerRow · blockSize/16]; empty for formats without them.</summary>
    public ReadOnlyMemory<byte> Micro { get; }

    /// <summary>
    /// Wraps existing buffers (for example slices of a memory-mapped file) without copying. Each buffer must have exactly
    /// the size the layout requires; <paramref name="micro"/> must be empty for formats without micro-exponents.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer has the wrong size; the message names the buffer and both sizes.</exception>
    public static MxPackedTensor View(MxPackedLayout layout, ReadOnlyMemory<byte> elements, ReadOnlyMemory<byte> scales, ReadOnlyMemory<byte> micro = default)
    {
        ArgumentNullException.ThrowIfNull(layout);
        Check("elements", elements.Length, layout.ElementBytes, layout);
        Check("scales", scales.Length, layout.ScaleBytes, layout);
        Check("micro", micro.Length, layout.MicroBytes, layout);
        return new MxPackedTensor(layout, elements, scales, micro);
    }

    /// <inheritdoc cref="View(MxPackedLayout, ReadOnlyMemory{byte}, ReadOnlyMemory{byte}, ReadOnlyMemory{byte})"/>
    public static MxPackedTensor View(MxFormat format, IReadOnlyList<int> shape, int axis, int blockSize,
        ReadOnlyMemory<byte> elements, ReadOnlyMemory<byte> scales, ReadOnlyMemory<byte> micro = default) =>
        View(new MxPackedLayout(format, shape, axis, blockSize), elements, scales, micro);

    /// <summary>A tensor with freshly allocated, zeroed buffers (scale bytes 0, codes 0), and the writable buffers.</summary>
    internal static MxPackedTensor Allocate(MxPackedLayout layout, out byte[] elements, out byte[] scales, out byte[] micro)
    {
        elements = new byte[layout.ElementBytes];
        scales = new byte[layout.ScaleBytes];
        micro = new byte[layout.MicroBytes];
        return new MxPackedTensor(layout, elements, scales, micro);
    }

    private static void Check(string name, long actual, long expected, MxPackedLayout l)
    {
        if (actual != expected)
            throw new ArgumentException(
                $"{name} buffer has {actual} bytes but {l.Format.Name} shape [{string.Join(", ", l.Shape)}] axis {l.Axis} block {l.BlockSize} " +
                $"needs {expected} ({l.Rows} rows × {(name == "elements" ? l.RowBytes : name == "scales" ? l.BlocksPerRow : l.BlocksPerRow * l.MicroBytesPerBlock)} bytes)");
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Format.Name}[{string.Join(", ", Layout.Shape)}] axis {Layout.Axis} block {Layout.BlockSize}";
}
