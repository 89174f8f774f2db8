using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Mx.Runtime.Ort;

/// <summary>
/// Points <see cref="OrtApiTable"/> at the native library that Microsoft's managed package
/// (<c>Microsoft.ML.OnnxRuntime.Managed</c>) loaded for its own <c>DllImport("onnxruntime")</c>: whichever natives
/// the application references (CPU or CUDA build), found the way the package finds them.
/// </summary>
internal static unsafe class ManagedOrtLibrary
{
    private const string LibraryName = "onnxruntime";
    private static readonly Lock s_lock = new();

    /// <summary>Sets the API table from the package's library once; later calls return at once.</summary>
    /// <exception cref="OrtLibraryException">The library cannot be loaded, is too old, or a second ONNX Runtime is mapped.</exception>
    public static void EnsureLoaded()
    {
        if (OrtApiTable.IsInitialized) return;
        lock (s_lock)
        {
            if (OrtApiTable.IsInitialized) return;
            var assembly = typeof(SessionOptions).Assembly;
            nint getApiBase;
            try
            {
                // First let the package load its library (its static initialiser runs its own resolver), so that the
                // load below, which resolves the same name for the same assembly, finds the library already mapped.
                new RunOptions().Dispose();
                nint handle = NativeLibrary.Load(LibraryName, assembly, null);
                getApiBase = NativeLibrary.GetExport(handle, "OrtGetApiBase");
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or TypeInitializationException)
            {
                throw new OrtLibraryException(
                    $"cannot load ONNX Runtime's native library through {assembly.GetName().Name}: {e.Message} " +
                    "(an application references Microsoft.ML.OnnxRuntime, or .Gpu / .Gpu.Linux, for the natives)");
            }
            nint apiBase = ((delegate* unmanaged<nint>)getApiBase)();
            string? error = OrtApiTable.TrySet(apiBase, $"the ONNX Runtime loaded by {assembly.GetName().Name}");
            if (error != null) throw new OrtLibraryException(error);
            var copies = LoadedCopies();
            if (copies.Count > 1)
                throw new OrtLibraryException($"{copies.Count} ONNX Runtime libraries are loaded in this process ({string.Join(", ", copies)}); " +
                    "objects of one cannot be used by another. Reference one ONNX Runtime package and nothing that brings its own copy.");
        }
    }

    /// <summary>
    /// The distinct files named <c>libonnxruntime.so</c> or <c>libonnxruntime.so.*</c> mapped into this process
    /// (Linux <c>/proc/self/maps</c>; empty elsewhere). Execution-provider libraries have other names and do not count.
    /// </summary>
    internal static IReadOnlyList<string> LoadedCopies()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return [];
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(maps))
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            string path = line[slash..];
            string name = Path.GetFileName(path);
            if (name == "libonnxruntime.so" || name.StartsWith("libonnxruntime.so.", StringComparison.Ordinal)) found.Add(path);
        }
        return [.. found];
    }
}
