using System.Buffers;
using Mx.Runtime.Formats;

namespace Mx.Runtime.Kernels;

/// <summary>
/// A read-only view of a packed MX weight as <c>docs/packed-layout.md</c> defines it: <see cref="Rows"/> rows (N, the
/// output features) of <see cref="K"/> elements blocked along K. The bytes live either in managed memory (pinned for
/// the view's lifetime) or in native memory the caller keeps alive (ONNX Runtime constant initializers).
/// Immutable; any number of kernels and threads may read it at once.
/// </summary>
public sealed unsafe class MxPackedWeight : IDisposable
{
    private MemoryHandle _pinElements, _pinScales, _pinMicro;

    /// <summary>A view over managed buffers, pinned until <see cref="Dispose"/>.</summary>
    /// <param name="format">Element format.</param>
    /// <param name="rows">N, the number of rows (output features).</param>
    /// <param name="k">K, the logical row length (reduction length), unpadded.</param>
    /// <param name="blockSize">Elements per scale: 8, 16, 32 or 64 (8 or 16 for MX9/MX6/MX4).</param>
    /// <param name="elements">[rows, Kp·bits/8] bit-packed codes.</param>
    /// <param name="scales">[rows, nb] E8M0 scale bytes.</param>
    /// <param name="micro">[rows, nb] micro-exponent bytes (MX9/MX6/MX4 only; empty otherwise).</param>
    /// <exception cref="ArgumentException">A size does not match the layout; the message says which and why.</exception>
    public MxPackedWeight(MxFormat format, int rows, int k, int blockSize,
        ReadOnlyMemory<byte> elements, ReadOnlyMemory<byte> scales, ReadOnlyMemory<byte> micro = default)
        : this(format, rows, k, blockSize, elements.Length, scales.Length, micro.Length)
    {
        _pinElements = elements.Pin();
        _pinScales = scales.Pin();
        _pinMicro = micro.Pin();
        Elements = (byte*)_pinElements.Pointer;
        Scales = (byte*)_pinScales.Pointer;
        Micro = micro.IsEmpty ? null : (byte*)_pinMicro.Pointer;
    }

    private MxPackedWeight(MxFormat format, int rows, int k, int blockSize, long elementsLength, long scalesLength, long microLength)
    {
        ArgumentNullException.ThrowIfNull(format);
        ValidateShape(format, rows, k, blockSize);
        Format = format;
        Rows = rows;
        K = k;
        BlockSize = blockSize;
        BlocksPerRow = (k + blockSize - 1) / blockSize;
        PaddedK = BlocksPerRow * blockSize;
        BlockBytes = blockSize * format.ElementBits / 8;
        RowBytes = BlocksPerRow * BlockBytes;
        Check("elements", elementsLength, (long)rows * RowBytes, $"[{rows}, {RowBytes}] (Kp = {PaddedK} elements of {format.ElementBits} bits per row)");
        Check("scales", scalesLength, (long)rows * BlocksPerRow, $"[{rows}, {BlocksPerRow}] (one E8M0 byte per block)");
        if (format.Kind == MxElementKind.SharedMicroExponent)
            Check("micro", microLength, (long)rows * BlocksPerRow, $"[{rows}, {BlocksPerRow}] (one micro-exponent byte per block, required by {format.Name})");
        else if (microLength != 0)
            throw new ArgumentException($"{format.Name} has no micro-exponents, but a micro buffer of {microLength} bytes was given", "micro");
    }

    /// <summary>
    /// A view over native memory (e.g. ONNX Runtime initializers). Nothing is copied or pinned: the caller keeps the
    /// memory alive and unchanged while the view is used. Lengths are in bytes.
    /// </summary>
    /// <exception cref="ArgumentException">A size does not match the layout, or a required pointer is null.</exception>
    public static MxPackedWeight FromPointers(MxFormat format, int rows, int k, int blockSize,
        nint elements, long elementsLength, nint scales, long scalesLength, nint micro = 0, long microLength = 0)
    {
        var w = new MxPackedWeight(format, rows, k, blockSize, elementsLength, scalesLength, microLength);
        if (elements == 0) throw new ArgumentException("null elements pointer", nameof(elements));
        if (scales == 0) throw new ArgumentException("null scales pointer", nameof(scales));
        if (microLength != 0 && micro == 0) throw new ArgumentException("null micro pointer with a non-zero length", nameof(micro));
        w.Elements = (byte*)elements;
        w.Scales = (byte*)scales;
        w.Micro = (byte*)micro;
        return w;
    }

    /// <summary>Element format.</summary>
    public MxFormat Format { get; }
    /// <summary>N: rows (output features).</summary>
    public int Rows { get; }
    /// <summary>K: logical row length (unpadded).</summary>
    public int K { get; }
    /// <summary>Elements per scale.</summary>
    public int BlockSize { get; }
    /// <summary>nb = ceil(K / BlockSize).</summary>
    public int BlocksPerRow { get; }
    /// <summary>Kp = nb · BlockSize.</summary>
    public int PaddedK { get; }
    /// <summary>Bytes of one packed block of elements.</summary>
    public int BlockBytes { get; }
    /// <summary>Bytes of one packed row of elements.</summary>
    public int RowBytes { get; }

    internal byte* Elements { get; private set; }
    internal byte* Scales { get; private set; }
    internal byte* Micro { get; private set; }

    /// <summary>Bytes the elements buffer must have.</summary>
    public static long ElementsLength(MxFormat format, int rows, int k, int blockSize) =>
        (long)rows * ((k + blockSize - 1) / blockSize) * (blockSize * format.ElementBits / 8);

    /// <summary>Bytes the scales (and, for MX9/MX6/MX4, the micro) buffer must have.</summary>
    public static long ScalesLength(int rows, int k, int blockSize) => (long)rows * ((k + blockSize - 1) / blockSize);

    /// <summary>Unpins managed buffers (no effect for native views).</summary>
    public void Dispose()
    {
        _pinElements.Dispose();
        _pinScales.Dispose();
        _pinMicro.Dispose();
    }

    private static void ValidateShape(MxFormat format, int rows, int k, int blockSize)
    {
        if (rows < 1) throw new ArgumentOutOfRangeException(nameof(rows), rows, "a packed weight needs at least one row (N ≥ 1)");
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, "a packed weight needs K ≥ 1");
        if (blockSize is not (8 or 16 or 32 or 64))
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be 8, 16, 32 or 64");
        if (format.Kind == MxElementKind.SharedMicroExponent && blockSize > 16)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"{format.Name} blocks hold at most 16 elements (8 micro-exponent pairs in one byte)");
        if (blockSize * format.ElementBits % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, $"{format.Name} blocks of {blockSize} do not end on a byte");
        long kp = (long)((k + blockSize - 1) / blockSize) * blockSize;
        if (kp * format.ElementBits / 8 > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(k), k, "row too long");
    }

    private static void Check(string name, long actual, long expected, string shape)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} buffer has {actual} bytes; the packed layout needs {expected} bytes: {shape}", name);
    }
}
