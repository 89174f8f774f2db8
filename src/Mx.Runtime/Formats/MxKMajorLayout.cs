namespace Mx.Runtime.Formats;

/// <summary>
/// The K-major ("reduction-block-major") packing of an N × K MX weight (docs/packed-layout.md, "K-major layout"): all
/// N rows of one K-block are stored together, so a kernel that skips a K-block (its activations are zero) skips one
/// contiguous stream. Inside a K-block, rows form tiles of <see cref="TileRows"/>; a tile's block bytes are
/// interleaved 4 bytes at a time (byte b of row r's chunk c is byte <c>4c + b</c> of that row's block), so one 64-byte
/// load holds 4 bytes of 16 rows and a vpdpbusd against 4 broadcast activation codes yields 16 row sums.
/// <para>
/// For MXFP4, MXINT4 and MXINT8 with block size 32. Rows past N in the last tile are padding (codes 0, scale byte 0).
/// Elements: <c>[nb][T][BlockBytes/4][16][4]</c> bytes (<c>T = ceil(N/16)</c>); scales: <c>[nb][T·16]</c>. With a
/// tile mask (weight block sparsity), a (K-block, tile) whose 16 × 32 weights are all zero is not stored: the mask is
/// <c>[nb][ceil(T/8)]</c> bytes, bit t of K-block j set when tile t is stored, and the elements hold the stored tiles
/// in (j, t) order.
/// </para>
/// </summary>
public sealed record MxKMajorLayout
{
    /// <summary>Rows per tile (one zmm of int32 lanes).</summary>
    public const int TileRows = 16;

    /// <summary>The only block size of the layout.</summary>
    public const int Block = 32;

    /// <summary>Validates the geometry.</summary>
    /// <exception cref="ArgumentException">The format is not 4- or 8-bit without micro-exponents, the block size is not 32, or N/K &lt; 1.</exception>
    public MxKMajorLayout(MxFormat format, int n, int k, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (!Supports(format, blockSize, out string? why)) throw new ArgumentException(why);
        if (n < 1 || k < 1) throw new ArgumentException($"a K-major weight needs N ≥ 1 and K ≥ 1 (got N = {n}, K = {k})");
        Format = format;
        N = n;
        K = k;
        Blocks = (k + Block - 1) / Block;
        Tiles = (n + TileRows - 1) / TileRows;
        BlockBytes = Block * format.ElementBits / 8;
    }

    /// <summary>Whether the K-major layout exists for this format and block size, and if not, why.</summary>
    public static bool Supports(MxFormat format, int blockSize, out string? reason)
    {
        reason = format.Kind != MxElementKind.Int && !(format.Kind == MxElementKind.Float && format.ElementBits == 4)
                 || format.ElementBits is not (4 or 8)
            ? $"the K-major layout is for MXFP4, MXINT4 and MXINT8 (integer-valued 4- and 8-bit codes); {format.Name} is not one of them"
            : blockSize != Block ? $"the K-major layout uses blocks of {Block}; block size {blockSize} was asked for" : null;
        return reason == null;
    }

    public MxFormat Format { get; }
    public int N { get; }
    public int K { get; }
    /// <summary>nb: K-blocks.</summary>
    public int Blocks { get; }
    /// <summary>T: row tiles (the last one padded).</summary>
    public int Tiles { get; }
    /// <summary>N rounded up to whole tiles.</summary>
    public int PaddedN => Tiles * TileRows;
    /// <summary>Bytes of one row's block (16 or 32).</summary>
    public int BlockBytes { get; }
    /// <summary>Bytes of one (K-block, tile).</summary>
    public int TileBytes => TileRows * BlockBytes;
    /// <summary>Bytes of one dense K-block stream (every tile).</summary>
    public long BlockStride => (long)Tiles * TileBytes;
    /// <summary>Bytes of the dense elements buffer.</summary>
    public long ElementBytes => Blocks * BlockStride;
    /// <summary>Bytes of the scales buffer.</summary>
    public long ScaleBytes => (long)Blocks * PaddedN;
    /// <summary>Bytes of the tile mask (weight block sparsity).</summary>
    public long MaskBytes => (long)Blocks * MaskRowBytes;
    /// <summary>Mask bytes per K-block.</summary>
    public int MaskRowBytes => (Tiles + 7) / 8;

    /// <summary>Byte offset, in the dense elements buffer, of byte <paramref name="byteInBlock"/> of row <paramref name="n"/>'s block <paramref name="j"/>.</summary>
    public long Offset(int j, int n, int byteInBlock) =>
        j * BlockStride + (long)(n / TileRows) * TileBytes + (byteInBlock / 4) * (TileRows * 4) + (n % TileRows) * 4 + byteInBlock % 4;

    /// <summary>Row-major packed buffers (docs/packed-layout.md, N rows) → dense K-major buffers.</summary>
    public (byte[] Elements, byte[] Scales) FromRowMajor(ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales)
    {
        CheckRowMajor(elements.Length, scales.Length);
        var e = new byte[ElementBytes];
        var s = new byte[ScaleBytes];
        for (int n = 0; n < N; n++)
            for (int j = 0; j < Blocks; j++)
            {
                int src = (n * Blocks + j) * BlockBytes;
                for (int b = 0; b < BlockBytes; b++) e[Offset(j, n, b)] = elements[src + b];
                s[(long)j * PaddedN + n] = scales[n * Blocks + j];
            }
        return (e, s);
    }

    /// <summary>Dense K-major buffers → row-major packed buffers (N rows).</summary>
    public (byte[] Elements, byte[] Scales) ToRowMajor(ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales)
    {
        if (elements.Length != ElementBytes || scales.Length != ScaleBytes)
            throw new ArgumentException($"K-major buffers have {elements.Length} / {scales.Length} bytes; {this} needs {ElementBytes} / {ScaleBytes}");
        var e = new byte[(long)N * Blocks * BlockBytes];
        var s = new byte[(long)N * Blocks];
        for (int n = 0; n < N; n++)
            for (int j = 0; j < Blocks; j++)
            {
                int dst = (n * Blocks + j) * BlockBytes;
                for (int b = 0; b < BlockBytes; b++) e[dst + b] = elements[(int)Offset(j, n, b)];
                s[n * Blocks + j] = scales[(int)((long)j * PaddedN + n)];
            }
        return (e, s);
    }

    /// <summary>
    /// Drops the (K-block, tile)s whose element codes are all zero: the tile mask and the compacted elements. The
    /// scales stay dense. A tile whose weights are all +0 contributes exactly 0, so kernels may skip it.
    /// </summary>
    public (byte[] Elements, byte[] Mask) Compact(ReadOnlySpan<byte> denseElements)
    {
        if (denseElements.Length != ElementBytes) throw new ArgumentException($"dense K-major elements have {denseElements.Length} bytes; {this} needs {ElementBytes}");
        var mask = new byte[MaskBytes];
        var kept = new List<int>();
        for (int j = 0; j < Blocks; j++)
            for (int t = 0; t < Tiles; t++)
            {
                var tile = denseElements.Slice((int)(j * BlockStride + (long)t * TileBytes), TileBytes);
                if (tile.IndexOfAnyExcept((byte)0) < 0) continue;
                mask[j * MaskRowBytes + t / 8] |= (byte)(1 << (t % 8));
                kept.Add(j * Tiles + t);
            }
        var e = new byte[(long)kept.Count * TileBytes];
        for (int i = 0; i < kept.Count; i++)
        {
            int j = kept[i] / Tiles, t = kept[i] % Tiles;
            denseElements.Slice((int)(j * BlockStride + (long)t * TileBytes), TileBytes).CopyTo(e.AsSpan(i * TileBytes));
        }
        return (e, mask);
    }

    /// <summary>Stored tiles counted from a mask, and the bytes the compacted elements must have.</summary>
    public static long StoredTiles(ReadOnlySpan<byte> mask)
    {
        long count = 0;
        foreach (byte b in mask) count += System.Numerics.BitOperations.PopCount(b);
        return count;
    }

    private void CheckRowMajor(long elements, long scales)
    {
        long e = (long)N * Blocks * BlockBytes, s = (long)N * Blocks;
        if (elements != e || scales != s)
            throw new ArgumentException($"row-major buffers have {elements} / {scales} bytes; {Format.Name} N = {N}, K = {K} needs {e} / {s}");
    }

    public override string ToString() => $"K-major {Format.Name} N = {N}, K = {K} ({Blocks} blocks × {Tiles} tiles)";
}
