namespace Mx.Runtime.Ort;

/// <summary>
/// A view of a tensor that ORT owns, seen by a custom kernel: element type, shape and data pointer. Valid only while
/// the call that produced it runs (one Compute, or one kernel creation for a constant input). Typed access checks that
/// the requested managed type matches <see cref="ElementType"/> (see <see cref="OrtElementTypes.Of{T}"/>).
/// </summary>
public readonly unsafe struct KernelTensor
{
    private readonly bool _writable;
    private readonly long[]? _shape;
    private readonly TensorLabel _what;

    internal KernelTensor(TensorElementType type, long[] shape, void* data, bool writable, TensorLabel what)
    {
        ElementType = type;
        _shape = shape;
        Data = (nint)data;
        _writable = writable;
        _what = what;
        IsPresent = true;
    }

    private KernelTensor(TensorLabel what) => _what = what;

    /// <summary>The view of an optional input the node leaves out.</summary>
    internal static KernelTensor Absent(TensorLabel what) => new(what);

    /// <summary>False for an optional input that the node leaves out; then everything else is empty.</summary>
    public bool IsPresent { get; }

    /// <summary>The element type.</summary>
    public TensorElementType ElementType { get; }

    /// <summary>The dimensions (empty for a scalar; do not modify).</summary>
    public long[] Shape => _shape ?? [];

    /// <summary>Address of the first element (row-major); may be 0 for an empty tensor.</summary>
    public nint Data { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount => HostTensor.ElementCountOf(Shape);

    /// <summary>E.g. <c>input 1 of MyDomain.Scale node 'n0'</c>; used in error messages.</summary>
    internal string What => _what.ToString();

    /// <summary>The elements, read-only.</summary>
    /// <exception cref="InvalidOperationException">Absent, wrong element type, or too many elements for a span (use <see cref="Pointer{T}"/>).</exception>
    public ReadOnlySpan<T> AsReadOnlySpan<T>() where T : unmanaged => new(Pointer<T>(), SpanLength());

    /// <summary>The elements, writable; outputs only.</summary>
    /// <exception cref="InvalidOperationException">An input, absent, wrong element type, or too many elements for a span.</exception>
    public Span<T> AsSpan<T>() where T : unmanaged
    {
        if (!_writable) throw new InvalidOperationException($"{What} is read-only");
        return new Span<T>(Pointer<T>(), SpanLength());
    }

    /// <summary>The data as <typeparamref name="T"/>*, after the same type check (for tensors above 2^31 elements or parallel bodies).</summary>
    public T* Pointer<T>() where T : unmanaged
    {
        if (!IsPresent) throw new InvalidOperationException($"{What} is absent");
        var want = OrtElementTypes.Of<T>();
        if (want != ElementType)
            throw new InvalidOperationException($"{What} is {ElementType.OnnxName()}, not {want.OnnxName()}");
        return (T*)Data;
    }

    /// <summary>A managed copy.</summary>
    public HostTensor ToHostTensor()
    {
        if (!IsPresent) throw new InvalidOperationException($"{What} is absent");
        var t = HostTensor.Zeros(ElementType, (long[])Shape.Clone());
        if (t.Data.Length > 0) new ReadOnlySpan<byte>((void*)Data, t.Data.Length).CopyTo(t.Data);
        return t;
    }

    private int SpanLength()
    {
        long n = ElementCount;
        if (n > int.MaxValue) throw new InvalidOperationException($"{What} has {n} elements, too many for a span; use Pointer<T>()");
        return (int)n;
    }

    /// <inheritdoc/>
    public override string ToString() => IsPresent ? $"{ElementType.OnnxName()}[{string.Join(", ", Shape)}]" : "(absent)";
}

/// <summary>
/// Names a tensor in error messages (<c>input 1 of MyDomain.Scale node 'n0'</c>). A struct rendered only when a message
/// needs it: kernels call Input/Output on every Compute, and building the text each time would allocate per call.
/// </summary>
internal readonly struct TensorLabel(string kind, int index, string where)
{
    /// <inheritdoc/>
    public override string ToString() => kind is null ? "absent tensor" : $"{kind} {index} of {where}";
}
