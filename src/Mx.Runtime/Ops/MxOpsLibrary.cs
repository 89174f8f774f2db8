using Mx.Runtime.Cpu;

namespace Mx.Runtime.Ops;

/// <summary>
/// The native custom-op library (src/Mx.Runtime.Native, docs/ops-library.md): the <c>mx.onnx</c> ops for any ONNX
/// Runtime host that loads custom ops from a shared library. It comes in two builds with the same export, because
/// NativeAOT decides at compile time whether AVX-512 code exists: <see cref="PortableFileName"/> (x86-64-v3: AVX2 and
/// FMA) and <see cref="Avx512FileName"/> (x86-64-v4). The one for this CPU takes the same kernel paths, and so gives
/// the same bits, as the managed registration (<see cref="MxOps.Register(Microsoft.ML.OnnxRuntime.SessionOptions)"/>) in the same process.
/// </summary>
public static class MxOpsLibrary
{
    /// <summary>The build for x86-64-v3 CPUs (AVX2, FMA, BMI; no AVX-512).</summary>
    public const string PortableFileName = "libmxonnx.so";

    /// <summary>The build for x86-64-v4 CPUs (AVX-512 F, BW, CD, DQ, VL).</summary>
    public const string Avx512FileName = "libmxonnx-avx512.so";

    /// <summary>
    /// Whether this CPU (and runtime) has AVX-512 as the kernels use it (F, BW, DQ, VL; every such CPU also has CD,
    /// the rest of x86-64-v4): <see cref="CpuFeatures.Detected"/>, not masked by <c>MX_DISABLE_ISA</c>, because the
    /// library itself applies that mask inside the same process.
    /// </summary>
    public static bool CpuIsX86_64V4 => (CpuFeatures.Detected & IsaFeatures.Avx512) != 0;

    /// <summary>The file name of the build this CPU should load.</summary>
    public static string FileNameForThisCpu => CpuIsX86_64V4 ? Avx512FileName : PortableFileName;

    /// <summary>
    /// The library for this CPU beside the application: in <see cref="AppContext.BaseDirectory"/> or, where NuGet puts
    /// Mx.Runtime's native assets in a framework-dependent app, in its <c>runtimes/linux-x64/native</c>; null when absent.
    /// </summary>
    public static string? FindBesideApplication()
    {
        string name = FileNameForThisCpu;
        foreach (string dir in new[] { AppContext.BaseDirectory, Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native") })
        {
            string path = Path.GetFullPath(Path.Combine(dir, name));
            if (File.Exists(path)) return path;
        }
        return null;
    }
}
