using System.Buffers;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Ops;

/// <summary>
/// Row-by-row work over raw tensor memory in a packed layout (docs/packed-layout.md), with the same codec calls as
/// <see cref="MxQuantizer"/>, so the results are bit-identical to it. Rows are split across a parallel runner.
/// </summary>
internal static unsafe class PackedRows
{
    private const long ElementsPerTask = 1 << 15;

    /// <summary>Decodes every row of packed buffers into the row-major float32 tensor <paramref name="y"/> of the layout's shape.</summary>
    public static void Dequantize(MxPackedLayout layout, byte* elements, byte* scales, byte* micro, float* y, IParallelRunner runner)
    {
        int k = layout.K, nb = layout.BlocksPerRow, rowBytes = layout.RowBytes;
        int microRow = nb * layout.MicroBytesPerBlock;
        long inner = layout.Inner;
        ForRows(layout, runner, (r0, r1) =>
        {
            float[]? rented = inner == 1 ? null : ArrayPool<float>.Shared.Rent(k);
            try
            {
                for (long r = r0; r < r1; r++)
                {
                    Span<float> target = rented is null ? new Span<float>(y + r * k, k) : rented.AsSpan(0, k);
                    MxRowCodec.Dequantize(layout.Format,
                        new ReadOnlySpan<byte>(elements + r * rowBytes, rowBytes),
                        new ReadOnlySpan<byte>(scales + r * nb, nb),
                        micro == null ? default : new ReadOnlySpan<byte>(micro + r * microRow, microRow),
                        layout.BlockSize, target);
                    if (rented is not null) Scatter(layout, r, target, y);
                }
            }
            finally
            {
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            }
        });
    }

    /// <summary>
    /// <paramref name="y"/> = dequantize(quantize(<paramref name="x"/>)) along the layout's block axis, exactly as
    /// <see cref="MxQuantizer.Quantize"/> then <see cref="MxQuantizer.Dequantize(MxPackedTensor, MxCodecPath)"/> would.
    /// </summary>
    public static void QuantizeDequantize(MxPackedLayout layout, float* x, float* y, MxScaleMode scaleMode, MxRounding rounding, IParallelRunner runner)
    {
        int k = layout.K, nb = layout.BlocksPerRow, rowBytes = layout.RowBytes;
        int microRow = nb * layout.MicroBytesPerBlock;
        long inner = layout.Inner;
        ForRows(layout, runner, (r0, r1) =>
        {
            // One pooled scratch per task: [row values (strided axes only)] [element bytes] [scale bytes] [micro bytes].
            byte[] bytes = ArrayPool<byte>.Shared.Rent(rowBytes + nb + microRow);
            float[]? row = inner == 1 ? null : ArrayPool<float>.Shared.Rent(k);
            try
            {
                var el = bytes.AsSpan(0, rowBytes);
                var sc = bytes.AsSpan(rowBytes, nb);
                var mi = bytes.AsSpan(rowBytes + nb, microRow);
                for (long r = r0; r < r1; r++)
                {
                    Span<float> values;
                    if (row is null)
                    {
                        values = new Span<float>(x + r * k, k);
                    }
                    else
                    {
                        values = row.AsSpan(0, k);
                        long start = MxQuantizer.LogicalIndex(layout, r, 0);
                        for (int i = 0; i < k; i++) values[i] = x[start + i * inner];
                    }
                    el.Clear();   // the codec may leave padding bits untouched
                    mi.Clear();
                    MxRowCodec.Quantize(layout.Format, values, layout.BlockSize, el, sc, mi, scaleMode, rounding);
                    Span<float> target = row is null ? new Span<float>(y + r * k, k) : values;
                    MxRowCodec.Dequantize(layout.Format, el, sc, mi, layout.BlockSize, target);
                    if (row is not null) Scatter(layout, r, target, y);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                if (row is not null) ArrayPool<float>.Shared.Return(row);
            }
        });
    }

    private static void Scatter(MxPackedLayout layout, long r, ReadOnlySpan<float> row, float* y)
    {
        long start = MxQuantizer.LogicalIndex(layout, r, 0), inner = layout.Inner;
        for (int i = 0; i < row.Length; i++) y[start + i * inner] = row[i];
    }

    // Tasks of about ElementsPerTask values each: enough work to outweigh scheduling, enough tasks to balance.
    private static void ForRows(MxPackedLayout layout, IParallelRunner runner, Action<long, long> body)
    {
        long rows = layout.Rows;
        if (rows == 0 || layout.K == 0) return;
        long perTask = Math.Max(1, ElementsPerTask / layout.K);
        long tasks = (rows + perTask - 1) / perTask;
        if (tasks > int.MaxValue) perTask = (rows + int.MaxValue - 1) / int.MaxValue;
        tasks = (rows + perTask - 1) / perTask;
        runner.For((int)tasks, t => body(t * perTask, Math.Min(rows, (t + 1) * perTask)));
    }
}
