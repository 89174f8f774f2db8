using Mx.Runtime.Formats;

namespace Mx.Runtime.Cuda;

/// <summary>A grid, block and dynamic shared memory size for <c>cuLaunchKernel</c>.</summary>
/// <param name="GridX">Blocks along x.</param>
/// <param name="GridY">Blocks along y.</param>
/// <param name="BlockX">Threads per block.</param>
/// <param name="DynamicSharedBytes">Dynamic shared memory per block.</param>
/// <param name="StaticSharedBytes">Shared memory the kernel declares statically (informational).</param>
public readonly record struct CudaLaunch(uint GridX, uint GridY, uint BlockX, int DynamicSharedBytes, int StaticSharedBytes)
{
    /// <summary>Total shared memory per block.</summary>
    public int SharedBytes => DynamicSharedBytes + StaticSharedBytes;
}

/// <summary>
/// Launch arithmetic of the CUDA MX kernels, mirroring the constants in mx_gemv.cu / mx_gemm.cu: which kernel for which
/// M, the tile sizes, grid and block dimensions and shared memory. Pure arithmetic, checked against the limits.
/// </summary>
public static class CudaLaunchGeometry
{
    /// <summary>Largest M served by the GEMV kernel.</summary>
    public const int GemvMaxRows = 8;

    /// <summary>Warps per GEMV block (one output column each; <c>MX_GEMV_WARPS</c>).</summary>
    public const int GemvWarps = 4;

    /// <summary>Columns of Y per GEMM block (<c>MX_BN</c>).</summary>
    public const int GemmTileN = 128;

    /// <summary>K per GEMM main-loop step (<c>MX_BK</c>).</summary>
    public const int GemmTileK = 32;

    /// <summary>Threads per GEMM block (8 warps).</summary>
    public const int GemmThreads = 256;

    /// <summary>Padded shared-memory row length of the GEMM tiles, in bf16 elements (<c>MX_LDS</c>).</summary>
    public const int GemmRowStride = GemmTileK + 8;

    /// <summary>Shared memory a block may use without opting in (48 KiB).</summary>
    public const int DefaultSharedLimit = 48 * 1024;

    /// <summary>Largest grid y dimension.</summary>
    public const int MaxGridY = 65535;

    /// <summary>GEMV for M ≤ <see cref="GemvMaxRows"/>, GEMM above.</summary>
    public static CudaKernelKind ChooseKind(int m) => m <= GemvMaxRows ? CudaKernelKind.Gemv : CudaKernelKind.Gemm;

    /// <summary>Activation rows per GEMV warp: M rounded up to a power of two, at most <see cref="GemvMaxRows"/>.</summary>
    public static int GemvRows(int m) => m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;

    /// <summary>Rows of Y per GEMM block: 32 up to M = 32, 64 up to 64, else 128.</summary>
    public static int GemmTileM(int m) => m <= 32 ? 32 : m <= 64 ? 64 : 128;

    /// <summary>Bytes of the decode table the kernels stage in shared memory: 2^bits floats (GEMV 4-bit: 256 byte-pair entries of two floats).</summary>
    public static int LutBytes(CudaKernelKind kind, int bits) =>
        kind == CudaKernelKind.Gemv && bits == 4 ? 256 * 8 : (1 << bits) * sizeof(float);

    /// <summary>The launch of <paramref name="variant"/> for an M × K by K × N product.</summary>
    /// <exception cref="ArgumentException">Non-positive sizes, or a grid beyond the hardware limits.</exception>
    public static CudaLaunch For(CudaKernelVariant variant, int m, int n, int k)
    {
        ArgumentNullException.ThrowIfNull(variant);
        if (m < 1 || n < 1 || k < 1) throw new ArgumentException($"M, N and K must be positive (got M = {m}, N = {n}, K = {k})");
        long gridY;
        CudaLaunch launch;
        if (variant.Kind == CudaKernelKind.Gemv)
        {
            gridY = Ceil(m, variant.Tile);
            launch = new CudaLaunch((uint)Ceil(n, GemvWarps), (uint)gridY, GemvWarps * 32, 0, LutBytes(CudaKernelKind.Gemv, variant.Bits));
        }
        else
        {
            gridY = Ceil(m, variant.Tile);
            launch = new CudaLaunch((uint)Ceil(n, GemmTileN), (uint)gridY, GemmThreads, GemmSharedBytes(variant), 0);
        }
        if (gridY > MaxGridY)
            throw new ArgumentException($"M = {m} needs {gridY} blocks along y, more than the {MaxGridY} CUDA allows; split the batch");
        return launch;
    }

    /// <summary>Dynamic shared memory of a GEMM block: the decode table, the 128-row W tile and one or two A tiles (bf16, padded rows).</summary>
    public static int GemmSharedBytes(CudaKernelVariant variant) =>
        LutBytes(CudaKernelKind.Gemm, variant.Bits)
        + (GemmTileN + variant.Tile * (variant.SplitA ? 2 : 1)) * GemmRowStride * sizeof(ushort);

    /// <summary>Bytes of the packed weight buffers for a K × N weight (blocks along K), from <see cref="MxPackedLayout"/>.</summary>
    public static (long Elements, long Scales) WeightBytes(MxFormat format, int blockSize, int k, int n)
    {
        var layout = new MxPackedLayout(format, [k, n], 0, blockSize);
        return (layout.ElementBytes, layout.ScaleBytes);
    }

    private static long Ceil(long a, long b) => (a + b - 1) / b;
}
