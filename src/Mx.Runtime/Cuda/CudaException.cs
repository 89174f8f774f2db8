namespace Mx.Runtime.Cuda;

/// <summary>A CUDA driver, NVRTC or cuBLAS call failed; the message names the call, the error name and its description.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(string message, int code = 0, Exception? inner = null) : base(message, inner) => Code = code;

    /// <summary>The numeric result code (CUresult, nvrtcResult or cublasStatus_t); 0 when not from a call.</summary>
    public int Code { get; }
}

/// <summary>CUDA cannot be used in this process; <see cref="Exception.Message"/> says why (which library, which paths, which error).</summary>
public sealed class CudaUnavailableException(string reason) : Exception(reason);
