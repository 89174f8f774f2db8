using Mx.Runtime.Interop;
namespace Mx.Runtime.Cuda;

/// <summary>
/// Where the CUDA libraries are looked for. Each library has an override environment variable that, when set, is the
/// only candidate; otherwise the sonames are tried with the dynamic loader's search, then in the usual directories.
/// </summary>
public static class CudaLibraryPaths
{
    /// <summary>Names the CUDA driver library to load (instead of searching for <c>libcuda.so.1</c>).</summary>
    public const string DriverVariable = "MX_CUDA_LIBRARY";

    /// <summary>Names the NVRTC library to load.</summary>
    public const string NvrtcVariable = "MX_NVRTC_LIBRARY";

    /// <summary>Names the cuBLAS library to load (benchmark baseline only).</summary>
    public const string CublasVariable = "MX_CUBLAS_LIBRARY";

    /// <summary>Overrides the compile-cache directory.</summary>
    public const string CacheVariable = "MX_CUDA_CACHE";

    /// <summary>Driver sonames, most specific first.</summary>
    public static IReadOnlyList<string> DriverNames { get; } = ["libcuda.so.1"];

    /// <summary>NVRTC sonames, newest first.</summary>
    public static IReadOnlyList<string> NvrtcNames { get; } = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    /// <summary>cuBLAS sonames, newest first.</summary>
    public static IReadOnlyList<string> CublasNames { get; } = ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"];

    /// <summary>Directories searched after the loader's own search (driver: distribution and WSL paths).</summary>
    public static IReadOnlyList<string?> DriverDirectories() =>
        ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib", "/usr/local/nvidia/lib64"];

    /// <summary>Directories searched for NVRTC and cuBLAS: <c>$CUDA_HOME/lib64</c>, <c>$CUDA_PATH/lib64</c>, <c>/usr/local/cuda/lib64</c>, the distribution's.</summary>
    public static IReadOnlyList<string?> ToolkitDirectories()
    {
        static string? Lib64(string variable) =>
            Environment.GetEnvironmentVariable(variable) is { Length: > 0 } root ? Path.Combine(root, "lib64") : null;
        return [Lib64("CUDA_HOME"), Lib64("CUDA_PATH"), "/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib64"];
    }

    /// <summary>The driver candidates for an override value (null: not set).</summary>
    public static IReadOnlyList<string> DriverCandidates(string? overridePath) =>
        NativeLibraryProbe.Candidates(overridePath, DriverNames, DriverDirectories());

    /// <summary>The NVRTC candidates for an override value (null: not set).</summary>
    public static IReadOnlyList<string> NvrtcCandidates(string? overridePath) =>
        NativeLibraryProbe.Candidates(overridePath, NvrtcNames, ToolkitDirectories());

    /// <summary>The cuBLAS candidates for an override value (null: not set).</summary>
    public static IReadOnlyList<string> CublasCandidates(string? overridePath) =>
        NativeLibraryProbe.Candidates(overridePath, CublasNames, ToolkitDirectories());
}
