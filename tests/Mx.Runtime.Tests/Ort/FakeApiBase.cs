using System.Runtime.InteropServices;

namespace Mx.Runtime.Tests.Ort;

/// <summary>
/// A stand-in <c>OrtApiBase</c> in native memory, for what a real ONNX Runtime cannot be made to do in a test: report
/// another version, or be too old. <c>GetApi(1)</c> returns a table whose only slot, CreateStatus (0), records the
/// message and returns a non-null dummy status; every other version returns NULL.
/// </summary>
internal static unsafe class FakeApiBase
{
    private static nint s_version;
    private static nint* s_table;

    /// <summary>The message of the last status created through the fake table.</summary>
    public static string? LastStatusMessage { get; private set; }

    [UnmanagedCallersOnly]
    private static nint GetApi(uint version) => version == 1 ? (nint)s_table : 0;

    [UnmanagedCallersOnly]
    private static nint GetVersionString() => s_version;

    [UnmanagedCallersOnly]
    private static nint CreateStatus(int code, byte* message)
    {
        LastStatusMessage = Marshal.PtrToStringUTF8((nint)message);
        return 0x5157;   // any non-null value: the caller only passes it on
    }

    /// <summary>Runs <paramref name="body"/> with a fake base reporting <paramref name="version"/>; not reentrant.</summary>
    public static T Use<T>(string version, Func<nint, T> body)
    {
        var block = (nint*)NativeMemory.Alloc(2, (nuint)sizeof(nint));
        s_table = (nint*)NativeMemory.Alloc(1, (nuint)sizeof(nint));
        s_version = Marshal.StringToCoTaskMemUTF8(version);
        block[0] = (nint)(delegate* unmanaged<uint, nint>)&GetApi;
        block[1] = (nint)(delegate* unmanaged<nint>)&GetVersionString;
        s_table[0] = (nint)(delegate* unmanaged<int, byte*, nint>)&CreateStatus;
        LastStatusMessage = null;
        try
        {
            return body((nint)block);
        }
        finally
        {
            NativeMemory.Free(block);
            NativeMemory.Free(s_table);
            Marshal.FreeCoTaskMem(s_version);
        }
    }
}
