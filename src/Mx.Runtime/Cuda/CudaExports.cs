using System.Runtime.InteropServices;

namespace Mx.Runtime.Cuda;

/// <summary>Exports the CUDA libraries must have: a missing one makes the backend unavailable, with the reason.</summary>
internal static class CudaExports
{
    /// <summary>The address of an export that must exist; otherwise <see cref="CudaUnavailableException"/> names the library and the symbol.</summary>
    public static nint Required(nint handle, string library, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint p)
            ? p
            : throw new CudaUnavailableException($"{library} does not export {name} (too old a version?)");
}
