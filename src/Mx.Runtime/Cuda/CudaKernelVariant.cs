using Mx.Runtime.Formats;

namespace Mx.Runtime.Cuda;

/// <summary>
/// One compiled specialization of a CUDA MX kernel: which source, and the <c>-D</c> options NVRTC compiles it with.
/// Element decoding is by table (uploaded per format), so a variant depends on the format only through its bit width.
/// </summary>
/// <param name="Kind">GEMV or GEMM.</param>
/// <param name="Bits">Element bits: 4, 6 or 8.</param>
/// <param name="BlockSize">Elements per scale: 8, 16, 32 or 64.</param>
/// <param name="Activation">Activation element type.</param>
/// <param name="Tile">GEMV: activation rows per warp (1, 2, 4, 8); GEMM: rows of Y per block (32, 64, 128).</param>
/// <param name="SplitA">GEMM only: activations as hi + lo bf16 pairs (two mma per step).</param>
public sealed record CudaKernelVariant(CudaKernelKind Kind, int Bits, int BlockSize, CudaActivationType Activation, int Tile, bool SplitA)
{
    /// <summary>The embedded source file.</summary>
    public string SourceName => Kind == CudaKernelKind.Gemv ? "mx_gemv.cu" : "mx_gemm.cu";

    /// <summary>The kernel's (extern "C") entry point.</summary>
    public string EntryName => Kind == CudaKernelKind.Gemv ? "mx_gemv" : "mx_gemm";

    /// <summary>The NVRTC options that specialize the source.</summary>
    public IReadOnlyList<string> Defines
    {
        get
        {
            var d = new List<string> { $"-DMX_BITS={Bits}", $"-DMX_BS={BlockSize}", $"-DMX_ACT={(int)Activation}" };
            if (Kind == CudaKernelKind.Gemv) d.Add($"-DMX_GEMV_ROWS={Tile}");
            else
            {
                d.Add($"-DMX_BM={Tile}");
                d.Add($"-DMX_SPLIT_A={(SplitA ? 1 : 0)}");
            }
            return d;
        }
    }

    /// <summary>Whether the CUDA kernels support a format: every element format of up to 8 bits without micro-exponents.</summary>
    public static bool Supports(MxFormat format) =>
        format.Kind != MxElementKind.SharedMicroExponent && format.ElementBits is 4 or 6 or 8;

    /// <summary>Throws a clear <see cref="NotSupportedException"/> when the CUDA kernels cannot run <paramref name="format"/>.</summary>
    public static void EnsureSupported(MxFormat format, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (!Supports(format))
            throw new NotSupportedException(
                $"{format.Name} is not supported by the CUDA kernels (shared-microexponent formats are CPU-only); " +
                "supported: " + string.Join(", ", MxFormats.All.Where(Supports).Select(f => f.Name)));
        if (!MxPackedLayout.SupportedBlockSizes.Contains(blockSize))
            throw new NotSupportedException($"block size {blockSize} is not supported; use one of {string.Join(", ", MxPackedLayout.SupportedBlockSizes)}");
    }

    /// <summary>
    /// The variant for a product with <paramref name="m"/> activation rows: GEMV up to
    /// <see cref="CudaLaunchGeometry.GemvMaxRows"/> rows, GEMM above. fp32 and fp16 activations use the split GEMM
    /// (fp16 exactly, fp32 to about 16 bits); bf16 activations a single bf16 product.
    /// </summary>
    public static CudaKernelVariant For(MxFormat format, int blockSize, CudaActivationType activation, int m)
    {
        EnsureSupported(format, blockSize);
        if (m < 1) throw new ArgumentOutOfRangeException(nameof(m), m, "a product needs at least one activation row");
        return CudaLaunchGeometry.ChooseKind(m) == CudaKernelKind.Gemv
            ? new CudaKernelVariant(CudaKernelKind.Gemv, format.ElementBits, blockSize, activation, CudaLaunchGeometry.GemvRows(m), false)
            : new CudaKernelVariant(CudaKernelKind.Gemm, format.ElementBits, blockSize, activation, CudaLaunchGeometry.GemmTileM(m),
                activation != CudaActivationType.BFloat16);
    }

    /// <summary>Every variant the kernels can be compiled as (for compile checks and warm-up).</summary>
    public static IEnumerable<CudaKernelVariant> All()
    {
        foreach (int bits in new[] { 4, 6, 8 })
        foreach (int bs in MxPackedLayout.SupportedBlockSizes)
        foreach (CudaActivationType act in Enum.GetValues<CudaActivationType>())
        {
            foreach (int rows in new[] { 1, 2, 4, 8 }) yield return new CudaKernelVariant(CudaKernelKind.Gemv, bits, bs, act, rows, false);
            foreach (int bm in new[] { 32, 64, 128 })
                yield return new CudaKernelVariant(CudaKernelKind.Gemm, bits, bs, act, bm, act != CudaActivationType.BFloat16);
        }
    }
}
