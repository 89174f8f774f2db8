using System.Globalization;
using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// The <c>OrtApi</c> function table that the custom-op bridge calls, taken once per process from the ONNX Runtime
/// that hosts the ops: in a .NET application from the native library that Microsoft's managed package loaded
/// (<see cref="ManagedOrtLibrary"/>), in the native op library <c>libmxonnx.so</c> from the <c>OrtApiBase*</c> the
/// host passes to <c>RegisterCustomOps</c>. Never from a second copy of ONNX Runtime.
/// </summary>
/// <remarks>
/// The table is requested at <see cref="MinimumApiVersion"/>, the oldest C API with every slot the bridge needs, so
/// hosts from ONNX Runtime 1.17 on can run the ops. Slots added after that version are used only when
/// <see cref="HostApiVersion"/> says the host has them (e.g. <c>GetTensorData</c>, API 23).
/// </remarks>
public static unsafe class OrtApiTable
{
    /// <summary>
    /// The C API version requested: 17 (ONNX Runtime 1.17), the first with <c>KernelContext_ParallelFor</c>; the other
    /// slots used (<c>KernelInfoGetConstantInput_tensor</c>, <c>KernelInfo_GetNodeName</c>: 1.15) and the custom-op
    /// fields used (CreateKernelV2/KernelComputeV2: 16, GetStartVersion/GetEndVersion: 17) are older.
    /// </summary>
    public const uint MinimumApiVersion = 17;

    /// <summary>The first C API version with <c>GetTensorData</c> (read-only data of a const OrtValue).</summary>
    internal const uint GetTensorDataVersion = 23;

    private static readonly Lock s_lock = new();
    private static nint* s_api;
    private static nint s_apiBase;

    /// <summary>The host's version string, e.g. <c>1.32.0</c>; null until the table is set.</summary>
    public static string? RuntimeVersion { get; private set; }

    /// <summary>The host's own C API version (the minor version of ONNX Runtime 1.x); 0 until the table is set.</summary>
    public static uint HostApiVersion { get; private set; }

    /// <summary>Whether the table has been set in this process.</summary>
    public static bool IsInitialized => Volatile.Read(ref s_apiBase) != 0;

    /// <summary>
    /// The table. In a .NET process it is taken from Microsoft's package on first use; in the native op library it is
    /// set by <c>RegisterCustomOps</c> before anything else runs.
    /// </summary>
    /// <exception cref="OrtLibraryException">The package's native library cannot be loaded or is too old.</exception>
    internal static nint* Api
    {
        get
        {
            nint* api = s_api;
            if (api != null) return api;
            ManagedOrtLibrary.EnsureLoaded();
            return s_api;
        }
    }

    /// <summary>
    /// Takes the table from <paramref name="apiBase"/> (an <c>OrtApiBase*</c>). A second call with the same base does
    /// nothing; a call with another base is refused, since two ONNX Runtime copies in one process cannot share objects.
    /// Returns null on success, else the reason (no exception: the native entry point must not throw).
    /// </summary>
    internal static string? TrySet(nint apiBase, string source)
    {
        if (apiBase == 0) return $"{source}: the OrtApiBase pointer is null";
        lock (s_lock)
        {
            if (s_apiBase == apiBase) return null;
            if (s_apiBase != 0)
                return $"{source} is a different ONNX Runtime ({VersionOf(apiBase)}) from the one the MX ops already use ({RuntimeVersion}); one process must load one ONNX Runtime";
            // OrtApiBase = { const OrtApi* GetApi(uint32_t version); const char* GetVersionString(void); }
            var fns = (nint*)apiBase;
            string version = VersionOf(apiBase);
            uint hostApi = ApiVersionOf(version);
            // Asking for a version the host lacks makes ORT print a complaint, so ask only when the version string allows it.
            nint* api = hostApi is 0 or >= MinimumApiVersion ? ((delegate* unmanaged<uint, nint*>)fns[0])(MinimumApiVersion) : null;
            if (api == null)
                return $"{source} is ONNX Runtime {version}; the MX ops need C API version {MinimumApiVersion} (ONNX Runtime 1.{MinimumApiVersion} or later)";
            RuntimeVersion = version;
            HostApiVersion = hostApi == 0 ? MinimumApiVersion : hostApi;
            s_api = api;
            Volatile.Write(ref s_apiBase, apiBase);
            return null;
        }
    }

    private static string VersionOf(nint apiBase) =>
        Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)((nint*)apiBase)[1])()) ?? "?";

    /// <summary>ORT 1.x has C API version x: "1.32.0" → 32; 0 when the string is not of that form.</summary>
    internal static uint ApiVersionOf(string version)
    {
        string[] parts = version.Split('.');
        return parts.Length >= 2 && parts[0] == "1" && uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint minor) ? minor : 0;
    }
}
