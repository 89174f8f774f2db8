namespace Mx.Runtime.Formats;

/// <summary>
/// The geometry of a packed MX tensor (docs/packed-layout.md): logical shape, block axis and block size → rows,
/// blocks per row and the byte size of each buffer. Pure arithmetic; validated on construction.
/// </summary>
public sealed record MxPackedLayout
{
    /// <summary>Block sizes accepted for every format (MX9/6/4: 16, 32, 64 — a block holds whole micro-exponent bytes).</summary>
    public static IReadOnlyList<int> SupportedBlockSizes { get; } = [8, 16, 32, 64];

    /// <summary>Builds and validates a layout. <paramref name="axis"/> may be negative (−1 = last).</summary>
    /// <exception cref="ArgumentException">Empty shape, a negative dimension, an axis out of range, an unsupported block size.</exception>
    public MxPackedLayout(MxFormat format, IReadOnlyList<int> shape, int axis, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (shape.Count == 0) throw new ArgumentException("an MX tensor needs rank ≥ 1 (a scalar has no block axis)", nameof(shape));
        foreach (int d in shape)
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
        int a = axis < 0 ? axis + shape.Count : axis;
        if (a < 0 || a >= shape.Count) throw new ArgumentException($"block axis {axis} is out of range for rank {shape.Count}", nameof(axis));
        if (!SupportedBlockSizes.Contains(blockSize))
            throw new ArgumentException($"block size {blockSize} is not supported; use one of {string.Join(", ", SupportedBlockSizes)}", nameof(blockSize));
        if (format.Kind == MxElementKind.SharedMicroExponent && blockSize < 16)
            throw new ArgumentException($"{format.Name} needs a block size of at least 16 (8 pairs per micro-exponent byte)", nameof(blockSize));
        Format = format;
        Shape = shape.ToArray();
        Axis = a;
        BlockSize = blockSize;
        K = Shape[a];
        long count = 1;
        foreach (int d in Shape) count *= d;
        ElementCount = count;
        Inner = 1;
        for (int i = a + 1; i < Shape.Count; i++) Inner *= Shape[i];
        long rows = 1;
        for (int i = 0; i < Shape.Count; i++) if (i != a) rows *= Shape[i];
        Rows = rows;
        BlocksPerRow = (K + blockSize - 1) / blockSize;
        PaddedK = BlocksPerRow * blockSize;
        BlockBytes = blockSize * format.ElementBits / 8;
        RowBytes = BlocksPerRow * BlockBytes;
        MicroBytesPerBlock = format.Kind == MxElementKind.SharedMicroExponent ? blockSize / 16 : 0;
    }

    /// <summary>The format.</summary>
    public MxFormat Format { get; }

    /// <summary>The logical shape.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The block axis, non-negative.</summary>
    public int Axis { get; }

    /// <summary>Elements per block.</summary>
    public int BlockSize { get; }

    /// <summary>Length of the block axis.</summary>
    public int K { get; }

    /// <summary>Product of the dimensions after the block axis (the stride of the block axis in the row-major logical tensor).</summary>
    public long Inner { get; }

    /// <summary>Number of logical elements (padding excluded).</summary>
    public long ElementCount { get; }

    /// <summary>Rows: product of every dimension except the block axis.</summary>
    public long Rows { get; }

    /// <summary>Blocks per row: ceil(K / block size).</summary>
    public int BlocksPerRow { get; }

    /// <summary>K rounded up to a whole number of blocks.</summary>
    public int PaddedK { get; }

    /// <summary>Bytes of one block's element codes: block size · bits / 8.</summary>
    public int BlockBytes { get; }

    /// <summary>Bytes of one row of element codes.</summary>
    public int RowBytes { get; }

    /// <summary>Micro-exponent bytes per block (block size / 16 for MX9/6/4, else 0).</summary>
    public int MicroBytesPerBlock { get; }

    /// <summary>Size of the element buffer: rows · row bytes.</summary>
    public long ElementBytes => Rows * RowBytes;

    /// <summary>Size of the scale buffer: rows · blocks per row.</summary>
    public long ScaleBytes => Rows * BlocksPerRow;

    /// <summary>Size of the micro-exponent buffer (0 for formats without one).</summary>
    public long MicroBytes => Rows * BlocksPerRow * MicroBytesPerBlock;

    /// <summary>Stored bits per logical element, scales and micro-exponents included (padding counts as storage).</summary>
    public double BitsPerElement => ElementCount == 0 ? 0 : 8.0 * (ElementBytes + ScaleBytes + MicroBytes) / ElementCount;
}
