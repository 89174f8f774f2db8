using System.Reflection;

namespace Mx.Runtime.Cuda;

/// <summary>
/// The CUDA C kernel sources embedded in Mx.Runtime (src/Mx.Runtime/Cuda/Kernels/*.cu and *.cuh, resource names
/// <c>Mx.Runtime.Cuda.Kernels.FILE</c>). Headers (*.cuh) are handed to NVRTC as in-memory includes.
/// </summary>
public static class CudaKernelSources
{
    private const string Prefix = "Mx.Runtime.Cuda.Kernels.";
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_all = new(Load);

    /// <summary>Every embedded kernel file, file name → text.</summary>
    public static IReadOnlyDictionary<string, string> All => s_all.Value;

    /// <summary>The header files (*.cuh), include name → text.</summary>
    public static IReadOnlyDictionary<string, string> Headers =>
        All.Where(kv => kv.Key.EndsWith(".cuh", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>The text of one embedded file, e.g. <c>mx_gemv.cu</c>.</summary>
    /// <exception cref="KeyNotFoundException">No such embedded file (the message lists those that exist).</exception>
    public static string Get(string fileName) =>
        All.TryGetValue(fileName, out string? text)
            ? text
            : throw new KeyNotFoundException($"no embedded CUDA source '{fileName}'; embedded: {string.Join(", ", All.Keys)}");

    private static IReadOnlyDictionary<string, string> Load()
    {
        Assembly asm = typeof(CudaKernelSources).Assembly;
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string res in asm.GetManifestResourceNames())
        {
            if (!res.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            using var stream = asm.GetManifestResourceStream(res)!;
            using var reader = new StreamReader(stream);
            map[res[Prefix.Length..]] = reader.ReadToEnd();
        }
        return map;
    }
}
