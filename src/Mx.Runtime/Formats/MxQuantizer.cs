namespace Mx.Runtime.Formats;

/// <summary>Quantize a float32 tensor (row-major) into an <see cref="MxPackedTensor"/>, and back.</summary>
public static class MxQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="data"/>, a row-major tensor of shape <paramref name="shape"/>, along
    /// <see cref="MxQuantizeOptions.Axis"/>. Each row (every index of the other axes) is cut into blocks of
    /// <see cref="MxQuantizeOptions.BlockSize"/>; a short last block is padded with code 0.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid layout, or <paramref name="data"/>'s length is not the shape's element count.</exception>
    public static MxPackedTensor Quantize(ReadOnlySpan<float> data, IReadOnlyList<int> shape, MxQuantizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var layout = new MxPackedLayout(options.Format, shape, options.Axis, options.BlockSize);
        if (data.Length != layout.ElementCount)
            throw new ArgumentException($"data has {data.Length} values but shape [{string.Join(", ", layout.Shape)}] holds {layout.ElementCount}", nameof(data));
        var tensor = MxPackedTensor.Allocate(layout, out byte[] elements, out byte[] scales, out byte[] micro);
        int k = layout.K, nb = layout.BlocksPerRow, microRow = nb * layout.MicroBytesPerBlock;
        float[]? gather = layout.Inner == 1 ? null : new float[k];
        for (long r = 0; r < layout.Rows; r++)
        {
            ReadOnlySpan<float> row = gather is null ? data.Slice((int)(r * k), k) : Gather(data, layout, r, gather);
            MxRowCodec.Quantize(layout.Format, row, layout.BlockSize,
                elements.AsSpan((int)(r * layout.RowBytes), layout.RowBytes),
                scales.AsSpan((int)(r * nb), nb),
                micro.AsSpan((int)(r * microRow), microRow),
                options.ScaleMode, options.Rounding, options.Path);
        }
        return tensor;
    }

    /// <summary>Decodes every logical element of <paramref name="tensor"/> into <paramref name="destination"/> (row-major, its shape).</summary>
    public static void Dequantize(MxPackedTensor tensor, Span<float> destination, MxCodecPath path = MxCodecPath.Auto)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var layout = tensor.Layout;
        if (destination.Length != layout.ElementCount)
            throw new ArgumentException($"destination has {destination.Length} values but the tensor holds {layout.ElementCount}", nameof(destination));
        int k = layout.K, nb = layout.BlocksPerRow, microRow = nb * layout.MicroBytesPerBlock;
        float[]? row = layout.Inner == 1 ? null : new float[k];
        var elements = tensor.Elements.Span;
        var scales = tensor.Scales.Span;
        var micro = tensor.Micro.Span;
        for (long r = 0; r < layout.Rows; r++)
        {
            Span<float> target = row ?? destination.Slice((int)(r * k), k);
            MxRowCodec.Dequantize(layout.Format,
                elements.Slice((int)(r * layout.RowBytes), layout.RowBytes),
                scales.Slice((int)(r * nb), nb),
                micro.Slice((int)(r * microRow), microRow),
                layout.BlockSize, target, path);
            if (row is not null) Scatter(row, layout, r, destination);
        }
    }

    /// <summary>Decodes <paramref name="tensor"/> into a new row-major array.</summary>
    public static float[] Dequantize(MxPackedTensor tensor, MxCodecPath path = MxCodecPath.Auto)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var result = new float[tensor.Layout.ElementCount];
        Dequantize(tensor, result, path);
        return result;
    }

    /// <summary>Index in the row-major logical tensor of element <paramref name="k"/> of row <paramref name="row"/>.</summary>
    public static long LogicalIndex(MxPackedLayout layout, long row, int k)
    {
        long outer = row / layout.Inner, inner = row % layout.Inner;
        return (outer * layout.K + k) * layout.Inner + inner;
    }

    private static ReadOnlySpan<float> Gather(ReadOnlySpan<float> data, MxPackedLayout layout, long r, float[] buffer)
    {
        long start = LogicalIndex(layout, r, 0);
        for (int i = 0; i < buffer.Length; i++) buffer[i] = data[(int)(start + i * layout.Inner)];
        return buffer;
    }

    private static void Scatter(ReadOnlySpan<float> row, MxPackedLayout layout, long r, Span<float> data)
    {
        long start = LogicalIndex(layout, r, 0);
        for (int i = 0; i < row.Length; i++) data[(int)(start + i * layout.Inner)] = row[i];
    }
}
