namespace Mx.Runtime.Ops;

/// <summary>Where the MX ops compute (<see cref="MxOps.Register(Microsoft.ML.OnnxRuntime.SessionOptions, MxOpsDevice)"/>).</summary>
public enum MxOpsDevice
{
    /// <summary>The packed CPU kernels (AVX2/AVX-512).</summary>
    Cpu,

    /// <summary>
    /// MxMatMul on the GPU through the CUDA kernels (docs/cuda.md): weight-only nodes in MXFP4/6/8 and MXINT8/4 upload
    /// their packed weight at session creation and run each product on device 0; nodes with MX activations or
    /// MX9/MX6/MX4 weights, and the other ops, stay on the CPU kernels. Session creation fails with the reason when CUDA
    /// is unavailable.
    /// </summary>
    Cuda,
}
