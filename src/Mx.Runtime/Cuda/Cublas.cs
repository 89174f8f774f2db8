using Mx.Runtime.Interop;
namespace Mx.Runtime.Cuda;

/// <summary>
/// cuBLAS (<c>libcublas.so.*</c>) bound at run time, only for the dense bf16 baseline of the benchmark:
/// <c>cublasGemmEx</c> with bf16 inputs, fp32 output and fp32 compute.
/// </summary>
public sealed unsafe class Cublas : IDisposable
{
    private readonly delegate* unmanaged<nint, int> _destroy;
    private readonly delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> _gemmEx;
    private nint _handle;

    private const int OpN = 0, OpT = 1, R32F = 0, R16BF = 14, Compute32F = 68, GemmDefault = -1;

    private Cublas(nint h, nint stream)
    {
        var create = (delegate* unmanaged<nint*, int>)CudaExports.Required(h, "cuBLAS", "cublasCreate_v2");
        var setStream = (delegate* unmanaged<nint, nint, int>)CudaExports.Required(h, "cuBLAS", "cublasSetStream_v2");
        _destroy = (delegate* unmanaged<nint, int>)CudaExports.Required(h, "cuBLAS", "cublasDestroy_v2");
        _gemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)
            CudaExports.Required(h, "cuBLAS", "cublasGemmEx");
        nint handle;
        Check(create(&handle), "cublasCreate");
        _handle = handle;
        Check(setStream(handle, stream), "cublasSetStream");
    }

    /// <summary>Loads cuBLAS (as <see cref="CudaLibraryPaths.CublasVariable"/> says) bound to the device's stream; null and the reason when absent.</summary>
    public static Cublas? TryCreate(CudaDevice device, out string reason)
    {
        ArgumentNullException.ThrowIfNull(device);
        var candidates = CudaLibraryPaths.CublasCandidates(Environment.GetEnvironmentVariable(CudaLibraryPaths.CublasVariable));
        if (!NativeLibraryProbe.TryLoad(candidates, "cublasGemmEx", out nint h, out _, out string failure))
        {
            reason = $"no cuBLAS library was found; set {CudaLibraryPaths.CublasVariable} to its path; {failure}";
            return null;
        }
        reason = "";
        return new Cublas(h, device.Stream);
    }

    /// <summary>Queues Y[m, n] (fp32) = A[m, k] (bf16, row-major) · Wᵀ where W is [n, k] bf16 row-major (the packed weight's row order).</summary>
    public void GemmBf16(ulong a, ulong w, ulong y, int m, int n, int k)
    {
        float alpha = 1f, beta = 0f;
        // Column-major view: Yᵀ (n × m) = (W as k × n)ᵀ · (A as k × m).
        Check(_gemmEx(_handle, OpT, OpN, n, m, k, &alpha, w, R16BF, k, a, R16BF, k, &beta, y, R32F, n, Compute32F, GemmDefault), "cublasGemmEx");
    }

    private static void Check(int status, string call)
    {
        if (status != 0) throw new CudaException($"{call} failed: cublasStatus_t {status}", status);
    }

    /// <summary>Destroys the handle.</summary>
    public void Dispose()
    {
        if (_handle == 0) return;
        _destroy(_handle);
        _handle = 0;
    }
}
