using System.Buffers;
using Mx.Runtime.Formats;

namespace Mx.Runtime.Kernels.Sparse;

/// <summary>
/// A read-only view of a K-major packed weight (<see cref="MxKMajorLayout"/>): dense, or with a tile mask whose
/// all-zero (K-block, tile)s are not stored (weight block sparsity). Managed buffers are pinned for the view's
/// lifetime; native views (ONNX Runtime initializers) are neither copied nor pinned.
/// </summary>
public sealed unsafe class MxKMajorWeight : IDisposable
{
    private MemoryHandle _pinE, _pinS, _pinM;
    private readonly Lazy<int[]?> _tileIndex;

    private MxKMajorWeight(MxKMajorLayout layout, long elementsLength, long scalesLength, long maskLength, ReadOnlySpan<byte> mask)
    {
        Layout = layout;
        if (scalesLength != layout.ScaleBytes)
            throw new ArgumentException($"scales buffer has {scalesLength} bytes; {layout} needs {layout.ScaleBytes}: [{layout.Blocks}, {layout.PaddedN}]", "scales");
        if (maskLength == 0)
        {
            if (elementsLength != layout.ElementBytes)
                throw new ArgumentException($"elements buffer has {elementsLength} bytes; {layout} needs {layout.ElementBytes}: [{layout.Blocks}, {layout.BlockStride}]", "elements");
        }
        else
        {
            if (maskLength != layout.MaskBytes)
                throw new ArgumentException($"tile mask has {maskLength} bytes; {layout} needs {layout.MaskBytes}: [{layout.Blocks}, {layout.MaskRowBytes}]", "mask");
            int spare = layout.MaskRowBytes * 8 - layout.Tiles;
            if (spare > 0)
                for (int j = 0; j < layout.Blocks; j++)
                    if ((mask[(j + 1) * layout.MaskRowBytes - 1] >> (8 - spare)) != 0)
                        throw new ArgumentException($"tile mask row {j} sets bits past the {layout.Tiles} tiles", "mask");
            StoredTiles = MxKMajorLayout.StoredTiles(mask);
            if (elementsLength != StoredTiles * layout.TileBytes)
                throw new ArgumentException($"elements buffer has {elementsLength} bytes; the mask stores {StoredTiles} tiles of {layout.TileBytes} bytes = {StoredTiles * layout.TileBytes}", "elements");
        }
        ElementsLength = elementsLength;
        _tileIndex = new(BuildTileIndex);
    }

    /// <summary>A view over managed buffers (mask empty: dense).</summary>
    /// <exception cref="ArgumentException">A size does not match the layout; the message says which and why.</exception>
    public MxKMajorWeight(MxKMajorLayout layout, ReadOnlyMemory<byte> elements, ReadOnlyMemory<byte> scales, ReadOnlyMemory<byte> mask = default)
        : this(layout, elements.Length, scales.Length, mask.Length, mask.Span)
    {
        _pinE = elements.Pin();
        _pinS = scales.Pin();
        _pinM = mask.Pin();
        Elements = (byte*)_pinE.Pointer;
        Scales = (byte*)_pinS.Pointer;
        Mask = mask.IsEmpty ? null : (byte*)_pinM.Pointer;
    }

    /// <summary>A view over native memory the caller keeps alive and unchanged (lengths in bytes; mask 0: dense).</summary>
    public static MxKMajorWeight FromPointers(MxKMajorLayout layout, nint elements, long elementsLength, nint scales, long scalesLength,
        nint mask = 0, long maskLength = 0)
    {
        if (elements == 0 || scales == 0 || (maskLength != 0 && mask == 0)) throw new ArgumentException("null buffer pointer");
        var w = new MxKMajorWeight(layout, elementsLength, scalesLength, maskLength,
            maskLength == 0 ? default : new ReadOnlySpan<byte>((void*)mask, checked((int)maskLength)));
        w.Elements = (byte*)elements;
        w.Scales = (byte*)scales;
        w.Mask = (byte*)mask;
        return w;
    }

    /// <summary>The geometry.</summary>
    public MxKMajorLayout Layout { get; }
    /// <summary>The format.</summary>
    public MxFormat Format => Layout.Format;
    /// <summary>N.</summary>
    public int Rows => Layout.N;
    /// <summary>K.</summary>
    public int K => Layout.K;
    /// <summary>Whether a tile mask is present (all-zero tiles not stored).</summary>
    public bool HasMask => Mask != null;
    /// <summary>Stored (K-block, tile)s when a mask is present.</summary>
    public long StoredTiles { get; }
    /// <summary>Bytes of the elements buffer.</summary>
    public long ElementsLength { get; }

    internal byte* Elements { get; private set; }
    internal byte* Scales { get; private set; }
    internal byte* Mask { get; private set; }

    /// <summary>For a masked weight, [nb][T]: each (K-block, tile)'s index among the stored tiles, or −1.</summary>
    internal int[]? TileIndex => _tileIndex.Value;

    /// <summary>Whether (K-block <paramref name="j"/>, tile <paramref name="t"/>) is stored (always, without a mask).</summary>
    public bool IsStored(int j, int t) => Mask == null || (Mask[j * Layout.MaskRowBytes + t / 8] >> (t % 8) & 1) != 0;

    /// <summary>The same weight in the row-major layout (allocates: the kernels' fallback for paths without a K-major kernel).</summary>
    public MxPackedWeight ToRowMajor()
    {
        var (e, s) = ToRowMajorBuffers();
        return new MxPackedWeight(Layout.Format, Layout.N, Layout.K, MxKMajorLayout.Block, e, s);
    }

    /// <summary>The row-major packed buffers (docs/packed-layout.md) of the same weight; tiles not stored are zeros.</summary>
    public (byte[] Elements, byte[] Scales) ToRowMajorBuffers()
    {
        var l = Layout;
        var dense = new byte[l.ElementBytes];
        int[]? index = TileIndex;
        for (int j = 0; j < l.Blocks; j++)
            for (int t = 0; t < l.Tiles; t++)
            {
                long src = index == null ? j * l.BlockStride + (long)t * l.TileBytes : index[j * l.Tiles + t] * (long)l.TileBytes;
                if (index != null && index[j * l.Tiles + t] < 0) continue;
                new ReadOnlySpan<byte>(Elements + src, l.TileBytes).CopyTo(dense.AsSpan((int)(j * l.BlockStride + (long)t * l.TileBytes)));
            }
        return l.ToRowMajor(dense, new ReadOnlySpan<byte>(Scales, (int)l.ScaleBytes));
    }

    private int[]? BuildTileIndex()
    {
        if (Mask == null) return null;
        var l = Layout;
        var index = new int[l.Blocks * l.Tiles];
        int next = 0;
        for (int j = 0; j < l.Blocks; j++)
            for (int t = 0; t < l.Tiles; t++)
                index[j * l.Tiles + t] = IsStored(j, t) ? next++ : -1;
        return index;
    }

    /// <summary>Unpins managed buffers.</summary>
    public void Dispose()
    {
        _pinE.Dispose();
        _pinS.Dispose();
        _pinM.Dispose();
    }
}
