namespace Mx.Runtime.Cuda;

/// <summary>Element type of the activations A a CUDA MX kernel reads (the kernels' <c>MX_ACT</c>). Outputs are always fp32.</summary>
public enum CudaActivationType
{
    /// <summary>float32.</summary>
    Float32 = 0,

    /// <summary>IEEE float16.</summary>
    Float16 = 1,

    /// <summary>bfloat16.</summary>
    BFloat16 = 2,
}

/// <summary>Sizes of <see cref="CudaActivationType"/> values.</summary>
public static class CudaActivationTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this CudaActivationType type) => type switch
    {
        CudaActivationType.Float32 => 4,
        CudaActivationType.Float16 or CudaActivationType.BFloat16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown activation type"),
    };
}
