using System.Runtime.InteropServices;
using System.Text;
using Mx.Runtime.Interop;

namespace Mx.Runtime.Cuda;

/// <summary>
/// The CUDA driver API (<c>libcuda.so.1</c>) bound at run time through function pointers: no P/Invoke declarations and
/// no build-time CUDA dependency. Every call's result goes through <see cref="Check"/>, which throws
/// <see cref="CudaException"/> with the error's name and description. Handles are passed as <c>nint</c>, device
/// pointers (<c>CUdeviceptr</c>) as <c>ulong</c>.
/// </summary>
internal sealed unsafe class CudaDriver
{
    private readonly delegate* unmanaged<int, byte**, int> _getErrorName;
    private readonly delegate* unmanaged<int, byte**, int> _getErrorString;

    public readonly delegate* unmanaged<uint, int> cuInit;
    public readonly delegate* unmanaged<int*, int> cuDriverGetVersion;
    public readonly delegate* unmanaged<int*, int> cuDeviceGetCount;
    public readonly delegate* unmanaged<int*, int, int> cuDeviceGet;
    public readonly delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
    public readonly delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
    public readonly delegate* unmanaged<nuint*, int, int> cuDeviceTotalMem;
    public readonly delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
    public readonly delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease;
    public readonly delegate* unmanaged<nint, int> cuCtxSetCurrent;
    public readonly delegate* unmanaged<int> cuCtxSynchronize;
    public readonly delegate* unmanaged<nint*, void*, int> cuModuleLoadData;
    public readonly delegate* unmanaged<nint, int> cuModuleUnload;
    public readonly delegate* unmanaged<nint*, nint, byte*, int> cuModuleGetFunction;
    public readonly delegate* unmanaged<nint, int, int, int> cuFuncSetAttribute;
    public readonly delegate* unmanaged<ulong*, nuint, int> cuMemAlloc;
    public readonly delegate* unmanaged<ulong, int> cuMemFree;
    public readonly delegate* unmanaged<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync;
    public readonly delegate* unmanaged<void*, ulong, nuint, nint, int> cuMemcpyDtoHAsync;
    public readonly delegate* unmanaged<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync;
    public readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;
    public readonly delegate* unmanaged<nint*, uint, int> cuStreamCreate;
    public readonly delegate* unmanaged<nint, int> cuStreamDestroy;
    public readonly delegate* unmanaged<nint, int> cuStreamSynchronize;
    public readonly delegate* unmanaged<nint*, uint, int> cuEventCreate;
    public readonly delegate* unmanaged<nint, int> cuEventDestroy;
    public readonly delegate* unmanaged<nint, nint, int> cuEventRecord;
    public readonly delegate* unmanaged<nint, int> cuEventSynchronize;
    public readonly delegate* unmanaged<float*, nint, nint, int> cuEventElapsedTime;

    /// <summary>CU_DEVICE_ATTRIBUTE_* values used here.</summary>
    public const int AttrMultiprocessorCount = 16, AttrComputeCapabilityMajor = 75, AttrComputeCapabilityMinor = 76,
        AttrMaxSharedMemoryPerBlockOptin = 97;

    /// <summary>CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES.</summary>
    public const int FuncAttrMaxDynamicSharedBytes = 8;

    private CudaDriver(nint h, string path)
    {
        Path = path;
        const string lib = "the CUDA driver library";
        nint E(string name) => CudaExports.Required(h, lib, name);
        _getErrorName = (delegate* unmanaged<int, byte**, int>)E("cuGetErrorName");
        _getErrorString = (delegate* unmanaged<int, byte**, int>)E("cuGetErrorString");
        cuInit = (delegate* unmanaged<uint, int>)E("cuInit");
        cuDriverGetVersion = (delegate* unmanaged<int*, int>)E("cuDriverGetVersion");
        cuDeviceGetCount = (delegate* unmanaged<int*, int>)E("cuDeviceGetCount");
        cuDeviceGet = (delegate* unmanaged<int*, int, int>)E("cuDeviceGet");
        cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)E("cuDeviceGetName");
        cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)E("cuDeviceGetAttribute");
        cuDeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)E("cuDeviceTotalMem_v2");
        cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)E("cuDevicePrimaryCtxRetain");
        cuDevicePrimaryCtxRelease = (delegate* unmanaged<int, int>)E("cuDevicePrimaryCtxRelease_v2");
        cuCtxSetCurrent = (delegate* unmanaged<nint, int>)E("cuCtxSetCurrent");
        cuCtxSynchronize = (delegate* unmanaged<int>)E("cuCtxSynchronize");
        cuModuleLoadData = (delegate* unmanaged<nint*, void*, int>)E("cuModuleLoadData");
        cuModuleUnload = (delegate* unmanaged<nint, int>)E("cuModuleUnload");
        cuModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)E("cuModuleGetFunction");
        cuFuncSetAttribute = (delegate* unmanaged<nint, int, int, int>)E("cuFuncSetAttribute");
        cuMemAlloc = (delegate* unmanaged<ulong*, nuint, int>)E("cuMemAlloc_v2");
        cuMemFree = (delegate* unmanaged<ulong, int>)E("cuMemFree_v2");
        cuMemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, int>)E("cuMemcpyHtoDAsync_v2");
        cuMemcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, nint, int>)E("cuMemcpyDtoHAsync_v2");
        cuMemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)E("cuMemcpyDtoDAsync_v2");
        cuLaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)E("cuLaunchKernel");
        cuStreamCreate = (delegate* unmanaged<nint*, uint, int>)E("cuStreamCreate");
        cuStreamDestroy = (delegate* unmanaged<nint, int>)E("cuStreamDestroy_v2");
        cuStreamSynchronize = (delegate* unmanaged<nint, int>)E("cuStreamSynchronize");
        cuEventCreate = (delegate* unmanaged<nint*, uint, int>)E("cuEventCreate");
        cuEventDestroy = (delegate* unmanaged<nint, int>)E("cuEventDestroy_v2");
        cuEventRecord = (delegate* unmanaged<nint, nint, int>)E("cuEventRecord");
        cuEventSynchronize = (delegate* unmanaged<nint, int>)E("cuEventSynchronize");
        cuEventElapsedTime = (delegate* unmanaged<float*, nint, nint, int>)E("cuEventElapsedTime");
    }

    /// <summary>The file the driver was loaded from.</summary>
    public string Path { get; }

    /// <summary>Loads the driver from the candidates; on failure returns null and the reason (every path tried and why).</summary>
    public static CudaDriver? TryLoad(IReadOnlyList<string> candidates, out string reason)
    {
        if (!NativeLibraryProbe.TryLoad(candidates, "cuInit", out nint h, out string path, out string failure))
        {
            reason = $"the CUDA driver library (libcuda.so.1) was not found; set {CudaLibraryPaths.DriverVariable} to its path; {failure}";
            return null;
        }
        try
        {
            reason = "";
            return new CudaDriver(h, path);
        }
        catch (CudaUnavailableException e)
        {
            reason = $"{path}: {e.Message}";
            return null;
        }
    }

    /// <summary>Throws <see cref="CudaException"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public void Check(int result, string call)
    {
        if (result != 0) throw new CudaException($"{call} failed: {Describe(result)}", result);
    }

    /// <summary>"CUDA_ERROR_NAME (description)" for a CUresult, or the number when the driver does not know it.</summary>
    public string Describe(int result)
    {
        byte* name = null, text = null;
        string n = _getErrorName(result, &name) == 0 && name != null ? Marshal.PtrToStringUTF8((nint)name) ?? "" : "";
        string s = _getErrorString(result, &text) == 0 && text != null ? Marshal.PtrToStringUTF8((nint)text) ?? "" : "";
        if (n.Length == 0) n = $"CUresult {result}";
        return s.Length == 0 ? n : $"{n} ({s})";
    }

    /// <summary>The device's name.</summary>
    public string DeviceName(int device)
    {
        byte* buf = stackalloc byte[256];
        Check(cuDeviceGetName(buf, 256, device), "cuDeviceGetName");
        int len = 0;
        while (len < 256 && buf[len] != 0) len++;
        return Encoding.UTF8.GetString(buf, len);
    }

    /// <summary>One integer device attribute.</summary>
    public int Attribute(int device, int attribute)
    {
        int v;
        Check(cuDeviceGetAttribute(&v, attribute, device), "cuDeviceGetAttribute");
        return v;
    }
}
