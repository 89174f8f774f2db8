using System.Runtime.InteropServices;

namespace Mx.Onnx.Quantization;

/// <summary>
/// A weight quantized for ONNX Runtime's <c>com.microsoft.MatMulNBits</c> (4 bits): N rows (output features) of K
/// values in blocks of <see cref="BlockSize"/> along K; value = (code − zero point) · scale.
/// </summary>
/// <param name="N">Rows (output features).</param>
/// <param name="K">Values per row (the reduction length).</param>
/// <param name="BlockSize">Values per scale (a power of two, at least 16).</param>
/// <param name="Codes">[N, BlocksPerRow, BlockSize/2]: element 2j of a block in the low nibble of byte j, 2j+1 in the high nibble; padding past K holds the zero point.</param>
/// <param name="Scales">[N, BlocksPerRow] float32.</param>
/// <param name="ZeroPoints">[N, ceil(BlocksPerRow/2)] 4-bit zero points (block 2j low nibble), or null: symmetric, zero point 8.</param>
public sealed record MatMulNBitsWeight(int N, int K, int BlockSize, byte[] Codes, float[] Scales, byte[]? ZeroPoints)
{
    /// <summary>The zero point of symmetric weights (MatMulNBits' default when the input is absent).</summary>
    public const int DefaultZeroPoint = 8;

    /// <summary>Blocks per row: ceil(K / BlockSize).</summary>
    public int BlocksPerRow => (K + BlockSize - 1) / BlockSize;

    /// <summary>Bytes of the zero points of one row.</summary>
    public int ZeroPointBytesPerRow => (BlocksPerRow + 1) / 2;

    /// <summary>Bytes of every initializer the weight takes (codes, scales, zero points).</summary>
    public long Bytes => Codes.LongLength + 4L * Scales.LongLength + (ZeroPoints?.LongLength ?? 0);

    /// <summary>Element <paramref name="k"/> of row <paramref name="n"/>, dequantized.</summary>
    public float Value(int n, int k)
    {
        int block = k / BlockSize;
        long at = ((long)n * BlocksPerRow + block) * (BlockSize / 2) + k % BlockSize / 2;
        int code = (Codes[at] >> (k % 2 * 4)) & 0xF;
        return (code - ZeroPoint(n, block)) * Scales[(long)n * BlocksPerRow + block];
    }

    /// <summary>The zero point of block <paramref name="block"/> of row <paramref name="n"/>.</summary>
    public int ZeroPoint(int n, int block) =>
        ZeroPoints is null ? DefaultZeroPoint : (ZeroPoints[(long)n * ZeroPointBytesPerRow + block / 2] >> (block % 2 * 4)) & 0xF;
}

/// <summary>
/// Quantizes float32 weights to MatMulNBits' 4-bit blocks, the way ONNX Runtime's own block quantizer (MLAS) does:
/// <list type="bullet">
/// <item><b>symmetric</b> (no zero points, the op's default 8): v = the block's value of largest magnitude, with its
/// sign; scale = v / −8, so v is code 0 exactly and the 16 codes −8..7 cover [−|v|, |v|·7/8];</item>
/// <item><b>with zero points</b>: range [min(0, lo), max(0, hi)] (zero stays exact), scale = range / 15,
/// zero point = round(−min / scale) in 0..15.</item>
/// </list>
/// codes = clamp(round-half-even(w / scale) + zero point, 0, 15); an all-zero block gets scale 0 and the zero point's code.
/// </summary>
public static class MatMulNBitsPacker
{
    /// <summary>Bits per weight code.</summary>
    public const int Bits = 4;

    /// <summary>Whether MatMulNBits accepts <paramref name="blockSize"/>: a power of two, at least 16.</summary>
    public static bool IsValidBlockSize(int blockSize) => blockSize >= 16 && (blockSize & (blockSize - 1)) == 0;

    /// <summary>Quantizes rows of <paramref name="k"/> contiguous values (<c>weights[n·k + i]</c> is element i of row n).</summary>
    /// <exception cref="ArgumentException">A bad block size, or <paramref name="weights"/> not a whole number of rows.</exception>
    public static MatMulNBitsWeight Pack(ReadOnlySpan<float> weights, int k, int blockSize, bool zeroPoints)
    {
        if (k < 1 || weights.Length % k != 0) throw new ArgumentException($"{weights.Length} values are not a whole number of rows of {k}");
        var w = Create(weights.Length / k, k, blockSize, zeroPoints);
        for (int n = 0; n < w.N; n++) PackRow(w, weights.Slice(n * k, k), n);
        return w;
    }

    /// <summary>Quantizes the float32 bytes of a weight laid out as <paramref name="layout"/> (blocks along its axis), rows in parallel.</summary>
    internal static MatMulNBitsWeight Pack(ReadOnlyMemory<byte> source, WeightLayout layout, int blockSize, bool zeroPoints)
    {
        int k = layout.K;
        long inner = 1;
        for (int d = layout.Axis + 1; d < layout.BlockShape.Count; d++) inner *= layout.BlockShape[d];
        long rows = layout.BlockShape.Aggregate(1L, (a, b) => a * b) / k;
        if (source.Length != rows * k * sizeof(float))
            throw new ArgumentException($"data has {source.Length} bytes but float32 {layout} needs {rows * k * sizeof(float)}");
        if (rows > int.MaxValue) throw new ArgumentException($"{layout} has {rows} rows; MatMulNBits takes at most {int.MaxValue}");
        var w = Create((int)rows, k, blockSize, zeroPoints);
        WeightPacker.ForEachRow(source, rows, k, inner, (row, n) => PackRow(w, row, (int)n));
        return w;
    }

    private static MatMulNBitsWeight Create(int n, int k, int blockSize, bool zeroPoints)
    {
        if (!IsValidBlockSize(blockSize)) throw new ArgumentException($"MatMulNBits block size must be a power of two of at least 16, not {blockSize}");
        int blocks = (k + blockSize - 1) / blockSize;
        return new MatMulNBitsWeight(n, k, blockSize, new byte[(long)n * blocks * blockSize / 2], new float[(long)n * blocks],
            zeroPoints ? new byte[(long)n * ((blocks + 1) / 2)] : null);
    }

    // Rows write disjoint bytes, except that two blocks share a zero-point byte: always within one row, so rows may run in parallel.
    private static void PackRow(MatMulNBitsWeight w, ReadOnlySpan<float> row, int n)
    {
        int bs = w.BlockSize, blocks = w.BlocksPerRow;
        var codes = w.Codes.AsSpan((int)((long)n * blocks * bs / 2), blocks * bs / 2);
        var scales = w.Scales.AsSpan(n * blocks, blocks);
        for (int b = 0; b < blocks; b++)
        {
            var block = row.Slice(b * bs, Math.Min(bs, row.Length - b * bs));
            var (scale, zero) = w.ZeroPoints is null ? Symmetric(block) : WithZeroPoint(block);
            scales[b] = scale;
            if (w.ZeroPoints is { } zp) zp[(long)n * w.ZeroPointBytesPerRow + b / 2] |= (byte)(zero << (b % 2 * 4));
            float inverse = scale == 0 ? 0 : 1f / scale;
            var dst = codes.Slice(b * bs / 2, bs / 2);
            for (int i = 0; i < bs; i++)
            {
                int code = i < block.Length ? Math.Clamp((int)MathF.Round(block[i] * inverse) + zero, 0, 15) : zero;
                dst[i / 2] |= (byte)(code << (i % 2 * 4));
            }
        }
    }

    private static (float Scale, int Zero) Symmetric(ReadOnlySpan<float> block)
    {
        float extreme = 0;
        foreach (float v in block)
            if (MathF.Abs(v) > MathF.Abs(extreme)) extreme = v;
        return (extreme / -MatMulNBitsWeight.DefaultZeroPoint, MatMulNBitsWeight.DefaultZeroPoint);
    }

    private static (float Scale, int Zero) WithZeroPoint(ReadOnlySpan<float> block)
    {
        float lo = 0, hi = 0;
        foreach (float v in block)
        {
            lo = MathF.Min(lo, v);
            hi = MathF.Max(hi, v);
        }
        float scale = (hi - lo) / 15f;
        return scale == 0 ? (0, 0) : (scale, Math.Clamp((int)MathF.Round(-lo / scale), 0, 15));
    }

    /// <summary>The scales as raw little-endian bytes (for an initializer).</summary>
    internal static byte[] ScaleBytes(MatMulNBitsWeight w) => MemoryMarshal.AsBytes(w.Scales.AsSpan()).ToArray();
}
