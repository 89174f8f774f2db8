using System.Runtime.InteropServices;
using System.Text;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Native;

/// <summary>
/// The one export of <c>libmxonnx.so</c>: <c>OrtStatus* RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api)</c>,
/// the entry point ONNX Runtime calls from <c>RegisterCustomOpsLibrary</c>. It takes the host's API (C API version
/// <see cref="OrtApiTable.MinimumApiVersion"/>) and adds the <c>mx.onnx</c> domain, with the same kernels as the
/// managed registration, to the options. Nothing may escape into the host: every failure is an error status.
/// </summary>
public static unsafe class NativeEntry
{
    /// <summary>Registers the MX ops on <paramref name="options"/>; returns null, or an error status the host releases.</summary>
    [UnmanagedCallersOnly(EntryPoint = "RegisterCustomOps")]
    public static nint RegisterCustomOps(nint options, nint apiBase)
    {
        try
        {
            if (options == 0) return HostStatus(apiBase, "libmxonnx: RegisterCustomOps was called with null session options");
            string? error = OrtApiTable.TrySet(apiBase, "the ONNX Runtime hosting libmxonnx");
            if (error != null) return HostStatus(apiBase, "libmxonnx: " + error);
            MxOps.Domain.AddToNative(options);
            return 0;
        }
        catch (Exception e)
        {
            return HostStatus(apiBase, $"libmxonnx: registering the {MxOps.DomainName} ops failed: {e.Message}");
        }
    }

    /// <summary>
    /// An ORT_FAIL status made with the host's own CreateStatus, which every C API version has in slot 0 (asked for
    /// with version 1, so even a host too old for the ops can say so). Returns 0 only if the host offers no API at all.
    /// </summary>
    private static nint HostStatus(nint apiBase, string message)
    {
        try
        {
            if (apiBase == 0) return 0;
            var getApi = (delegate* unmanaged<uint, nint*>)((nint*)apiBase)[0];
            nint* api = getApi(1);
            if (api == null) return 0;
            byte[] utf8 = Encoding.UTF8.GetBytes(message + "\0");
            fixed (byte* p = utf8) return ((delegate* unmanaged<int, byte*, nint>)api[0])((int)OrtErrorCode.Fail, p);
        }
        catch
        {
            return 0;
        }
    }
}
