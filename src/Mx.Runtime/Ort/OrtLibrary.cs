using System.Runtime.InteropServices;
using Mx.Runtime.Interop;

namespace Mx.Runtime.Ort;

/// <summary>
/// Finds and loads the ONNX Runtime native library once per process and obtains its C API table.
/// Search order: the file named by <c>MX_ORT_LIBRARY</c> when that variable is set (and nothing else);
/// otherwise <c>libonnxruntime.so.1</c> beside the Mx.Runtime assembly, then beside the application
/// (<see cref="AppContext.BaseDirectory"/>), then the system's default library search.
/// </summary>
public static unsafe class OrtLibrary
{
    /// <summary>The environment variable that names the native library to load, overriding the search.</summary>
    public const string OverrideVariable = "MX_ORT_LIBRARY";

    /// <summary>The file name of the native library on Linux.</summary>
    public const string LibraryFileName = "libonnxruntime.so.1";

    /// <summary>The C API version this binding is written against (<c>ORT_API_VERSION</c> of ONNX Runtime 1.30).</summary>
    public const uint ApiVersion = 30;

    private static readonly Lock s_lock = new();
    private static nint* s_api;
    private static string? s_failure;
    private static string? s_version;

    /// <summary>The version string of the loaded runtime, e.g. <c>1.30.0</c>; loads the library if needed.</summary>
    public static string RuntimeVersion
    {
        get
        {
            _ = Api;
            return s_version!;
        }
    }

    /// <summary>The <c>OrtApi</c> function table; loads the library on first use. Throws <see cref="OrtLibraryException"/> on failure (every time).</summary>
    internal static nint* Api
    {
        get
        {
            nint* api = s_api;
            return api != null ? api : Initialize();
        }
    }

    private static nint* Initialize()
    {
        lock (s_lock)
        {
            if (s_api != null) return s_api;
            if (s_failure != null) throw new OrtLibraryException(s_failure);
            try
            {
                // In a single-file app the assembly has no location (empty string): AppContext.BaseDirectory covers it.
                string location = AssemblyLocation();
                string? assemblyDir = location.Length == 0 ? null : Path.GetDirectoryName(location);
                var candidates = Candidates(Environment.GetEnvironmentVariable(OverrideVariable), assemblyDir, AppContext.BaseDirectory);
                nint getApiBase = LoadFirst(candidates, out _);
                // OrtApiBase = { const OrtApi* GetApi(uint32_t version); const char* GetVersionString(void); }
                nint* apiBase = ((delegate* unmanaged<nint*>)getApiBase)();
                string version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)apiBase[1])()) ?? "?";
                nint* api = ((delegate* unmanaged<uint, nint*>)apiBase[0])(ApiVersion);
                if (api == null) throw new OrtLibraryException(VersionTooOld(version, ApiVersion));
                s_version = version;
                s_api = api;
                return api;
            }
            catch (OrtLibraryException e)
            {
                s_failure = e.Message;
                throw;
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "An empty location is handled: the caller falls back to AppContext.BaseDirectory.")]
    private static string AssemblyLocation() => typeof(OrtLibrary).Assembly.Location;

    /// <summary>The paths to try, in order (see the class summary). A set but empty override counts as unset.</summary>
    internal static IReadOnlyList<string> Candidates(string? overridePath, string? assemblyDir, string? baseDir)
    {
        if (!string.IsNullOrWhiteSpace(overridePath)) return [overridePath];
        var list = new List<string>();
        foreach (string? dir in new[] { assemblyDir, baseDir })
        {
            if (string.IsNullOrEmpty(dir)) continue;
            string p = Path.GetFullPath(Path.Combine(dir, LibraryFileName));
            if (!list.Contains(p)) list.Add(p);
        }
        list.Add(LibraryFileName); // a bare name: the dynamic loader's default search
        return list;
    }

    /// <summary>
    /// Loads the first candidate that opens and exports <c>OrtGetApiBase</c>; returns that export.
    /// Throws <see cref="OrtLibraryException"/> listing every path tried and why each failed.
    /// </summary>
    internal static nint LoadFirst(IReadOnlyList<string> candidates, out string loadedFrom)
    {
        if (NativeLibraryProbe.TryLoad(candidates, "OrtGetApiBase", out nint handle, out loadedFrom, out string failure))
            return NativeLibrary.GetExport(handle, "OrtGetApiBase");
        throw new OrtLibraryException(
            $"cannot load the ONNX Runtime library (set {OverrideVariable} to its path to choose one); {failure}");
    }

    /// <summary>The message for a runtime that does not offer the C API version we need.</summary>
    internal static string VersionTooOld(string runtimeVersion, uint needed) =>
        $"the ONNX Runtime library is version {runtimeVersion}, older than C API version {needed} that Mx.Runtime needs (ONNX Runtime 1.{needed} or later)";
}
