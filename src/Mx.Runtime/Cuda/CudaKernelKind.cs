namespace Mx.Runtime.Cuda;

/// <summary>Which CUDA MX kernel a product uses.</summary>
public enum CudaKernelKind
{
    /// <summary>mx_gemv.cu: one warp per output column, bandwidth-bound, for small M.</summary>
    Gemv,

    /// <summary>mx_gemm.cu: bf16 tensor-core tiles (mma.sync m16n8k16), for large M.</summary>
    Gemm,
}
