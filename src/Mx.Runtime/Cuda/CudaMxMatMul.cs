using Mx.Runtime.Formats;

namespace Mx.Runtime.Cuda;

/// <summary>
/// MxMatMul on the GPU (docs/cuda.md): <c>Y = alpha · (A · W) + beta · bias</c> with W a packed MX weight of logical
/// shape [K, N] (N rows of K, docs/packed-layout.md). The packed weight, its scales, the bias and the format's decode
/// table are uploaded once by <see cref="Create(CudaDevice, MxFormat, int, int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{float}, float, float)"/>;
/// each <see cref="Run"/> copies the activations in, launches GEMV (M ≤ 8) or GEMM and copies Y back.
/// Thread-safe (runs are serialized); dispose to free the device memory.
/// </summary>
public sealed unsafe class CudaMxMatMul : IDisposable
{
    private readonly CudaDevice _device;
    private readonly CudaBuffer _elements, _scales, _lut;
    private readonly CudaBuffer? _bias;
    private readonly float _alpha, _beta;
    private readonly Lock _lock = new();
    private CudaBuffer? _a, _y;

    private CudaMxMatMul(CudaDevice device, MxPackedLayout layout, CudaBuffer elements, CudaBuffer scales, CudaBuffer lut, CudaBuffer? bias, float alpha, float beta)
    {
        _device = device;
        Layout = layout;
        _elements = elements;
        _scales = scales;
        _lut = lut;
        _bias = bias;
        _alpha = alpha;
        _beta = beta;
    }

    /// <summary>The packed weight's layout ([K, N], blocks along K).</summary>
    public MxPackedLayout Layout { get; }

    /// <summary>Reduction length.</summary>
    public int K => Layout.K;

    /// <summary>Output columns.</summary>
    public int N => Layout.Shape[1];

    /// <summary>
    /// Uploads a packed weight. <paramref name="elements"/> and <paramref name="scales"/> must have exactly the sizes
    /// <see cref="MxPackedLayout"/> gives for [K, N] packed along axis 0; <paramref name="bias"/> is empty or N values.
    /// </summary>
    /// <exception cref="NotSupportedException">A format or block size the CUDA kernels do not run.</exception>
    /// <exception cref="ArgumentException">Buffer sizes that do not match the layout.</exception>
    public static CudaMxMatMul Create(CudaDevice device, MxFormat format, int blockSize, int k, int n,
                                      ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, ReadOnlySpan<float> bias = default,
                                      float alpha = 1f, float beta = 1f)
    {
        ArgumentNullException.ThrowIfNull(device);
        CudaKernelVariant.EnsureSupported(format, blockSize);
        if (k < 1 || n < 1) throw new ArgumentException($"K and N must be positive (got K = {k}, N = {n})");
        var layout = new MxPackedLayout(format, [k, n], 0, blockSize);
        if (elements.Length != layout.ElementBytes)
            throw new ArgumentException($"{format.Name} weight [K = {k}, N = {n}], block {blockSize}: elements must be {layout.ElementBytes} bytes, got {elements.Length}");
        if (scales.Length != layout.ScaleBytes)
            throw new ArgumentException($"{format.Name} weight [K = {k}, N = {n}], block {blockSize}: scales must be {layout.ScaleBytes} bytes, got {scales.Length}");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException($"bias must have N = {n} values, got {bias.Length}");

        var buffers = new List<CudaBuffer>();
        try
        {
            CudaBuffer Put<T>(ReadOnlySpan<T> data) where T : unmanaged
            {
                var b = device.Allocate(Math.Max(1L, (long)data.Length * sizeof(T)));
                buffers.Add(b);
                device.Upload(data, b);
                return b;
            }
            var e = Put(elements);
            var s = Put(scales);
            var lut = Put<float>(MxElementDecoding.Table(format));
            var bb = bias.IsEmpty ? null : Put(bias);
            return new CudaMxMatMul(device, layout, e, s, lut, bb, alpha, beta);
        }
        catch
        {
            foreach (var b in buffers) b.Dispose();
            throw;
        }
    }

    /// <summary>Pointer form of <see cref="Create(CudaDevice, MxFormat, int, int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte}, ReadOnlySpan{float}, float, float)"/> for an ONNX Runtime kernel that holds the initializers' data pointers.</summary>
    public static CudaMxMatMul Create(CudaDevice device, MxFormat format, int blockSize, int k, int n,
                                      byte* elements, long elementBytes, byte* scales, long scaleBytes, float* bias,
                                      float alpha = 1f, float beta = 1f)
    {
        if (elementBytes > int.MaxValue || scaleBytes > int.MaxValue) throw new ArgumentException("packed weight larger than 2 GiB");
        return Create(device, format, blockSize, k, n, new ReadOnlySpan<byte>(elements, (int)elementBytes),
            new ReadOnlySpan<byte>(scales, (int)scaleBytes), bias == null ? default : new ReadOnlySpan<float>(bias, n), alpha, beta);
    }

    /// <summary>Y[m, N] = alpha · A[m, K] · W + beta · bias, for host float32 arrays; waits for the result.</summary>
    public void Run(float* a, int m, float* y)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "row count must not be negative");
        if (m == 0) return;
        if (a == null || y == null) throw new ArgumentNullException(a == null ? nameof(a) : nameof(y));
        long aBytes = (long)m * K * sizeof(float), yBytes = (long)m * N * sizeof(float);
        lock (_lock)
        {
            _a = Ensure(_a, aBytes);
            _y = Ensure(_y, yBytes);
            _device.Upload(a, _a.Pointer, aBytes);
            Launch(_a.Pointer, CudaActivationType.Float32, m, _y.Pointer);
            _device.Download(_y.Pointer, y, yBytes);
        }
    }

    /// <summary>Queues the product on device memory (no copies, no wait): <paramref name="a"/> holds m × K activations of <paramref name="type"/>, <paramref name="y"/> receives m × N floats.</summary>
    public void Launch(ulong a, CudaActivationType type, int m, ulong y)
    {
        var variant = CudaKernelVariant.For(Layout.Format, Layout.BlockSize, type, m);
        var launch = CudaLaunchGeometry.For(variant, m, N, K);
        nint f = _device.Function(variant);
        _device.LaunchMx(f, launch, a, _elements.Pointer, _scales.Pointer, _lut.Pointer, _bias?.Pointer ?? 0, y, m, N, K, _alpha, _beta);
    }

    private CudaBuffer Ensure(CudaBuffer? buffer, long bytes)
    {
        if (buffer != null && buffer.Bytes >= bytes) return buffer;
        buffer?.Dispose();
        return _device.Allocate(bytes);
    }

    /// <summary>Frees the device memory.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var b in new[] { _elements, _scales, _lut, _bias, _a, _y }) b?.Dispose();
        }
    }
}
