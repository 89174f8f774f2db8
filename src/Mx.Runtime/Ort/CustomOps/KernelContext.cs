using Mx.Runtime.Kernels;

namespace Mx.Runtime.Ort;

/// <summary>
/// A custom kernel's view of one Compute call: typed access to the node's inputs, allocation of its outputs, and
/// <see cref="For"/>, a parallel loop on ORT's intra-op threads. Valid only during that Compute call. It is an
/// <see cref="IParallelRunner"/>, so the packed GEMM kernels run directly on the session's intra-op pool.
/// </summary>
public readonly unsafe struct KernelContext : IParallelRunner
{
    private readonly nint _context;
    private readonly string _where;

    internal KernelContext(nint context, string where)
    {
        _context = context;
        _where = where;
    }

    /// <summary>The op and node being computed, e.g. <c>test.Scale node 'n0'</c>.</summary>
    public string Where => _where;

    /// <summary>Number of inputs the node has.</summary>
    public int InputCount
    {
        get
        {
            OrtNative.Check(OrtNative.KernelContextGetInputCount(_context, out nuint n), _where);
            return (int)n;
        }
    }

    /// <summary>Number of outputs the node has.</summary>
    public int OutputCount
    {
        get
        {
            OrtNative.Check(OrtNative.KernelContextGetOutputCount(_context, out nuint n), _where);
            return (int)n;
        }
    }

    /// <summary>
    /// Input <paramref name="index"/>, read-only. An optional input that the node leaves out (or an index past the
    /// node's inputs) gives a tensor with <see cref="KernelTensor.IsPresent"/> false.
    /// </summary>
    public KernelTensor Input(int index)
    {
        var what = new TensorLabel("input", index, _where);
        if (index < 0 || index >= InputCount) return KernelTensor.Absent(what);
        nint status = OrtNative.KernelContextGetInput(_context, (nuint)index, out nint value);
        if (status != 0) throw OrtNative.TakeError(status, what.ToString());
        if (value == 0) return KernelTensor.Absent(what);
        var (type, shape) = OrtTensorShapes.OfValue(value);
        status = OrtNative.GetTensorData(value, out void* data);
        if (status != 0) throw OrtNative.TakeError(status, what.ToString());
        return new KernelTensor(type, shape, data, writable: false, what);
    }

    /// <summary>Allocates output <paramref name="index"/> with <paramref name="shape"/> (its element type is the one ORT
    /// inferred for the node) and returns a writable view. Contents are uninitialised.</summary>
    public KernelTensor Output(int index, ReadOnlySpan<long> shape)
    {
        // Messages are built only on failure: Output runs on every Compute.
        var what = new TensorLabel("output", index, _where);
        if (index < 0 || index >= OutputCount)
            throw new ArgumentOutOfRangeException(nameof(index), $"{what}: the node has {OutputCount} outputs");
        nint value, status;
        fixed (long* dims = shape)
            status = OrtNative.KernelContextGetOutput(_context, (nuint)index, dims, (nuint)shape.Length, out value);
        if (status != 0) throw OrtNative.TakeError(status, $"allocating {what} [{string.Join(", ", shape.ToArray())}]");
        var (type, actualShape) = OrtTensorShapes.OfValue(value);
        status = OrtNative.GetTensorMutableData(value, out void* data);
        if (status != 0) throw OrtNative.TakeError(status, what.ToString());
        return new KernelTensor(type, actualShape, data, writable: true, what);
    }

    /// <summary>Shorthand: allocates output <paramref name="index"/> and returns its elements as <typeparamref name="T"/>.</summary>
    public Span<T> Output<T>(int index, ReadOnlySpan<long> shape) where T : unmanaged => Output(index, shape).AsSpan<T>();

    /// <summary>
    /// How many loop bodies may run at once. ORT's C API does not tell a kernel its session's intra-op thread count,
    /// so this is <see cref="Environment.ProcessorCount"/> (ORT's default pool size is of that order); kernels only
    /// use it to size their work split, so an overestimate costs a little scheduling, never correctness.
    /// </summary>
    public int DegreeOfParallelism => Environment.ProcessorCount;

    /// <summary>
    /// Runs <paramref name="body"/> for each index in [0, <paramref name="count"/>) on ORT's intra-op thread pool
    /// (<c>KernelContext_ParallelFor</c>), the calling thread included, and returns when all are done. Each index is
    /// one task, so give each index a worthwhile amount of work (e.g. a block of rows). The first exception thrown by
    /// a body is rethrown here after the loop ends; later indices may then be skipped.
    /// </summary>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        if (count == 1)
        {
            body(0);
            return;
        }
        ParallelForBridge.Run(_context, count, body, _where);
    }
}
