using System.Text;

namespace Mx.Runtime.Cuda;

/// <summary>
/// One GPU through the driver API: its primary context, one stream, device memory, copies, kernel modules (compiled
/// through NVRTC and the <see cref="CudaCompileCache"/> on first use, then kept) and launches. Calls are serialized
/// by a lock and make the context current on the calling thread first.
/// </summary>
public sealed unsafe class CudaDevice
{
    private readonly CudaDriver _driver;
    private readonly nint _context;
    private readonly Dictionary<CudaKernelVariant, nint> _functions = [];
    private readonly Lock _lock = new();

    internal CudaDevice(CudaDriver driver, Nvrtc nvrtc, int ordinal, CudaAvailability availability, CudaCompileCache cache)
    {
        _driver = driver;
        Nvrtc = nvrtc;
        Availability = availability;
        Cache = cache;
        int dev;
        driver.Check(driver.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
        nint ctx;
        driver.Check(driver.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        _context = ctx;
        MakeCurrent();
        nint stream;
        driver.Check(driver.cuStreamCreate(&stream, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
        Stream = stream;
        Architecture = availability.ComputeCapability;
        MultiprocessorCount = driver.Attribute(dev, CudaDriver.AttrMultiprocessorCount);
    }

    /// <summary>What was found when the device was opened.</summary>
    public CudaAvailability Availability { get; }

    /// <summary>The compiler used for kernels.</summary>
    public Nvrtc Nvrtc { get; }

    /// <summary>Where compiled kernels are kept.</summary>
    public CudaCompileCache Cache { get; }

    /// <summary>Compute capability, major·10 + minor: kernels are compiled for <c>sm_</c> this.</summary>
    public int Architecture { get; }

    /// <summary>Streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; }

    /// <summary>The stream every operation of this object is queued on (<c>CUstream</c>).</summary>
    public nint Stream { get; }

    internal CudaDriver Driver => _driver;

    /// <summary>Allocates device memory.</summary>
    public CudaBuffer Allocate(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "allocation size must be positive");
        lock (_lock)
        {
            MakeCurrent();
            ulong p;
            _driver.Check(_driver.cuMemAlloc(&p, (nuint)bytes), $"cuMemAlloc({bytes} bytes)");
            return new CudaBuffer(this, p, bytes);
        }
    }

    internal void Free(ulong pointer)
    {
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuMemFree(pointer), "cuMemFree");
        }
    }

    /// <summary>Copies host memory to the device and waits.</summary>
    public void Upload(void* source, ulong destination, long bytes)
    {
        if (bytes == 0) return;
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuMemcpyHtoDAsync(destination, source, (nuint)bytes, Stream), "cuMemcpyHtoDAsync");
            _driver.Check(_driver.cuStreamSynchronize(Stream), "cuStreamSynchronize");
        }
    }

    /// <summary>Copies a span to the device and waits.</summary>
    public void Upload<T>(ReadOnlySpan<T> source, CudaBuffer destination) where T : unmanaged
    {
        long bytes = (long)source.Length * sizeof(T);
        if (bytes > destination.Bytes) throw new ArgumentException($"{bytes} bytes do not fit a {destination.Bytes}-byte device buffer");
        fixed (T* p = source) Upload(p, destination.Pointer, bytes);
    }

    /// <summary>Copies device memory to the host and waits.</summary>
    public void Download(ulong source, void* destination, long bytes)
    {
        if (bytes == 0) return;
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuMemcpyDtoHAsync(destination, source, (nuint)bytes, Stream), "cuMemcpyDtoHAsync");
            _driver.Check(_driver.cuStreamSynchronize(Stream), "cuStreamSynchronize");
        }
    }

    /// <summary>Queues a device-to-device copy (no wait).</summary>
    public void CopyAsync(ulong source, ulong destination, long bytes)
    {
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuMemcpyDtoDAsync(destination, source, (nuint)bytes, Stream), "cuMemcpyDtoDAsync");
        }
    }

    /// <summary>Waits for everything queued on <see cref="Stream"/>.</summary>
    public void Synchronize()
    {
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuStreamSynchronize(Stream), "cuStreamSynchronize");
        }
    }

    /// <summary>The loaded kernel function of a variant, compiling (or reading the cache) on first use.</summary>
    public nint Function(CudaKernelVariant variant)
    {
        lock (_lock)
        {
            if (_functions.TryGetValue(variant, out nint f)) return f;
            MakeCurrent();
            byte[] cubin = Cache.GetOrCompile(Nvrtc, variant, Architecture, out _);
            nint module;
            fixed (byte* p = cubin) _driver.Check(_driver.cuModuleLoadData(&module, p), $"cuModuleLoadData({variant.EntryName})");
            byte[] name = Encoding.ASCII.GetBytes(variant.EntryName + "\0");
            fixed (byte* n = name) _driver.Check(_driver.cuModuleGetFunction(&f, module, n), $"cuModuleGetFunction({variant.EntryName})");
            _functions[variant] = f;
            return f;
        }
    }

    /// <summary>Queues a kernel launch with the standard MX kernel parameters (see mx_gemv.cu / mx_gemm.cu).</summary>
    public void LaunchMx(nint function, CudaLaunch launch, ulong a, ulong elements, ulong scales, ulong lut, ulong bias, ulong y,
                         int m, int n, int k, float alpha, float beta)
    {
        void** args = stackalloc void*[11];
        args[0] = &a; args[1] = &elements; args[2] = &scales; args[3] = &lut; args[4] = &bias; args[5] = &y;
        args[6] = &m; args[7] = &n; args[8] = &k; args[9] = &alpha; args[10] = &beta;
        lock (_lock)
        {
            MakeCurrent();
            if (launch.DynamicSharedBytes > CudaLaunchGeometry.DefaultSharedLimit)
                _driver.Check(_driver.cuFuncSetAttribute(function, CudaDriver.FuncAttrMaxDynamicSharedBytes, launch.DynamicSharedBytes), "cuFuncSetAttribute");
            _driver.Check(_driver.cuLaunchKernel(function, launch.GridX, launch.GridY, 1, launch.BlockX, 1, 1,
                (uint)launch.DynamicSharedBytes, Stream, args, null), "cuLaunchKernel");
        }
    }

    /// <summary>Milliseconds the stream takes to run <paramref name="work"/> (event timing, after one warm-up call).</summary>
    public float Time(Action work, int repeats = 10)
    {
        ArgumentNullException.ThrowIfNull(work);
        work();
        nint start, end;
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuEventCreate(&start, 0), "cuEventCreate");
            _driver.Check(_driver.cuEventCreate(&end, 0), "cuEventCreate");
            _driver.Check(_driver.cuEventRecord(start, Stream), "cuEventRecord");
        }
        for (int i = 0; i < repeats; i++) work();
        float ms;
        lock (_lock)
        {
            MakeCurrent();
            _driver.Check(_driver.cuEventRecord(end, Stream), "cuEventRecord");
            _driver.Check(_driver.cuEventSynchronize(end), "cuEventSynchronize");
            _driver.Check(_driver.cuEventElapsedTime(&ms, start, end), "cuEventElapsedTime");
            _driver.Check(_driver.cuEventDestroy(start), "cuEventDestroy");
            _driver.Check(_driver.cuEventDestroy(end), "cuEventDestroy");
        }
        return ms / repeats;
    }

    private void MakeCurrent() => _driver.Check(_driver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
}
