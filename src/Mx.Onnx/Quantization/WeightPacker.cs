using System.Runtime.InteropServices;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Quantizes a 2-D weight layout into packed MX buffers, bit-identical to <see cref="MxQuantizer.Quantize"/> but
/// faster on large tensors: rows are independent, so they are split across cores, and a weight blocked along axis 0
/// (MatMul B [K, N]) is read through small transposed panels instead of one strided column at a time.
/// </summary>
internal static class WeightPacker
{
    // Columns per transposed panel: 64 floats = 4 cache lines of each source row per step.
    private const int Panel = 64;

    public static MxPackedTensor Pack(ReadOnlyMemory<byte> source, WeightLayout layout, TensorSettings s)
    {
        var packed = new MxPackedLayout(s.Format, layout.BlockShape, layout.Axis, s.BlockSize);
        if (source.Length != packed.ElementCount * sizeof(float))
            throw new ArgumentException($"data has {source.Length} bytes but float32 {layout} needs {packed.ElementCount * sizeof(float)}");
        var elements = new byte[packed.ElementBytes];
        var scales = new byte[packed.ScaleBytes];
        var micro = new byte[packed.MicroBytes];
        int nb = packed.BlocksPerRow, microRow = nb * packed.MicroBytesPerBlock;
        ForEachRow(source, packed.Rows, packed.K, packed.Inner, (row, r) =>
            MxRowCodec.Quantize(s.Format, row, s.BlockSize,
                elements.AsSpan((int)(r * packed.RowBytes), packed.RowBytes),
                scales.AsSpan((int)(r * nb), nb),
                micro.AsSpan((int)(r * microRow), microRow),
                s.ScaleMode, s.Rounding));
        return MxPackedTensor.View(packed, elements, scales, micro);
    }

    /// <summary>
    /// Calls <paramref name="row"/> for each of the <paramref name="rows"/> rows of <paramref name="k"/> float32 values
    /// along the block axis, in parallel: rows are contiguous when <paramref name="inner"/> is 1; otherwise (axis 0 of
    /// [K, N], <paramref name="inner"/> = N) row n is column n, read through transposed panels. The span is valid
    /// during the call only.
    /// </summary>
    public static void ForEachRow(ReadOnlyMemory<byte> source, long rows, int k, long inner, Action<ReadOnlySpan<float>, long> row)
    {
        if (inner == 1)
        {
            // Rows are contiguous: hand each core a run of rows.
            int chunks = (int)Math.Min(rows, Environment.ProcessorCount * 4L);
            Parallel.For(0, chunks, c =>
            {
                var data = MemoryMarshal.Cast<byte, float>(source.Span);
                for (long r = rows * c / chunks; r < rows * (c + 1) / chunks; r++)
                    row(data.Slice((int)(r * k), k), r);
            });
            return;
        }
        // Axis 0 of [K, N]: row n is column n. Transpose Panel columns at a time into a [Panel, K] buffer.
        int n = (int)inner;
        int panels = (n + Panel - 1) / Panel;
        Parallel.For(0, panels, () => new float[Panel * (long)k], (p, _, buffer) =>
        {
            var data = MemoryMarshal.Cast<byte, float>(source.Span);
            int c0 = p * Panel, width = Math.Min(Panel, n - c0);
            for (int kk = 0; kk < k; kk++)
            {
                var src = data.Slice(kk * n + c0, width);
                for (int j = 0; j < width; j++) buffer[j * k + kk] = src[j];
            }
            for (int j = 0; j < width; j++) row(buffer.AsSpan(j * k, k), c0 + j);
            return buffer;
        }, _ => { });
    }
}
