namespace Mx.Runtime.Cuda;

/// <summary>Whether the CUDA backend can run here and, when not, exactly why.</summary>
/// <param name="IsAvailable">True when a usable GPU, the driver and NVRTC were all found.</param>
/// <param name="Reason">Empty when available; otherwise which library or call failed, with the paths tried or the error name.</param>
/// <param name="DeviceName">GPU 0's name, when a device was found.</param>
/// <param name="ComputeCapability">GPU 0's compute capability as major·10 + minor (e.g. 90), 0 when unknown.</param>
/// <param name="DriverVersion">The driver's CUDA version (e.g. 12040), 0 when unknown.</param>
/// <param name="DriverPath">Where libcuda was loaded from.</param>
/// <param name="NvrtcVersion">NVRTC's version, when loaded.</param>
/// <param name="NvrtcPath">Where NVRTC was loaded from.</param>
public sealed record CudaAvailability(
    bool IsAvailable, string Reason, string? DeviceName = null, int ComputeCapability = 0, int DriverVersion = 0,
    string? DriverPath = null, string? NvrtcVersion = null, string? NvrtcPath = null)
{
    /// <summary>Lowest compute capability the kernels need (bf16 mma.sync m16n8k16: Ampere, sm_80).</summary>
    public const int MinimumComputeCapability = 80;

    /// <summary>A one-line description for logs and <c>mx cuda check</c>.</summary>
    public override string ToString() => IsAvailable
        ? $"CUDA available: {DeviceName} (sm_{ComputeCapability}), driver CUDA {DriverVersion / 1000}.{DriverVersion % 1000 / 10} ({DriverPath}), NVRTC {NvrtcVersion} ({NvrtcPath})"
        : $"CUDA not available: {Reason}";
}
