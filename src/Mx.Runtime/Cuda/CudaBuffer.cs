namespace Mx.Runtime.Cuda;

/// <summary>Device memory from <c>cuMemAlloc</c>, freed on dispose.</summary>
public sealed unsafe class CudaBuffer : IDisposable
{
    private readonly CudaDevice _device;

    internal CudaBuffer(CudaDevice device, ulong pointer, long bytes)
    {
        _device = device;
        Pointer = pointer;
        Bytes = bytes;
    }

    /// <summary>The device address (<c>CUdeviceptr</c>); 0 after dispose.</summary>
    public ulong Pointer { get; private set; }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>Frees the memory.</summary>
    public void Dispose()
    {
        if (Pointer == 0) return;
        _device.Free(Pointer);
        Pointer = 0;
    }
}
