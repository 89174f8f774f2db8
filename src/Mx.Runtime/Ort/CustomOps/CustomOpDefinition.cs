namespace Mx.Runtime.Ort;

/// <summary>Whether a custom-op input or output must be present (ORT's <c>OrtCustomOpInputOutputCharacteristic</c>).</summary>
public enum CustomOpArity
{
    /// <summary>Always present.</summary>
    Required = 0,
    /// <summary>May be absent (empty name in the node); absent inputs read as <see cref="KernelTensor.IsPresent"/> false.</summary>
    Optional = 1,
    /// <summary>Any number (at least <see cref="CustomOpParameter.MinArity"/>); only the last input/output may be variadic.</summary>
    Variadic = 2,
}

/// <summary>
/// One declared input or output of a custom op. <see cref="TensorElementType.Undefined"/> accepts any element type
/// (ORT then infers outputs typed Undefined from the node). For a variadic parameter, <see cref="Homogeneous"/> says
/// whether all its values share one element type.
/// </summary>
public readonly record struct CustomOpParameter(
    TensorElementType ElementType,
    CustomOpArity Arity = CustomOpArity.Required,
    int MinArity = 1,
    bool Homogeneous = true);

/// <summary>
/// A custom operator implemented in C#: its domain-local name, declared inputs and outputs, the opset versions it
/// covers and a factory that makes one kernel per graph node. A definition is registered with ORT once, through
/// <see cref="CustomOpDomain"/>, and then lives (with its native description) until the process ends.
/// </summary>
public sealed class CustomOpDefinition
{
    /// <summary>Declares an op.</summary>
    /// <param name="name">The node <c>op_type</c> this op implements.</param>
    /// <param name="inputs">Declared inputs in order.</param>
    /// <param name="outputs">Declared outputs in order.</param>
    /// <param name="createKernel">
    /// Called once per node when a session is created, with the node's <see cref="KernelInfo"/> (valid only during the
    /// call). Its exceptions fail session creation with their message. The kernel it returns is shared by concurrent
    /// Run calls and must be immutable after creation (or synchronise itself).
    /// </param>
    /// <param name="sinceVersion">First opset version of the domain this op serves (ORT's GetStartVersion).</param>
    /// <param name="endVersion">Last opset version served, inclusive (ORT's GetEndVersion); <see cref="int.MaxValue"/> for open-ended.</param>
    public CustomOpDefinition(string name, IReadOnlyList<CustomOpParameter> inputs, IReadOnlyList<CustomOpParameter> outputs,
        Func<KernelInfo, ICustomKernel> createKernel, int sinceVersion = 1, int endVersion = int.MaxValue)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(createKernel);
        CheckVariadicLast(inputs, name, "input");
        CheckVariadicLast(outputs, name, "output");
        if (sinceVersion < 1 || endVersion < sinceVersion)
            throw new ArgumentOutOfRangeException(nameof(sinceVersion), $"op {name}: versions {sinceVersion}..{endVersion} are not a valid range");
        Name = name;
        Inputs = [.. inputs];
        Outputs = [.. outputs];
        CreateKernel = createKernel;
        SinceVersion = sinceVersion;
        EndVersion = endVersion;
    }

    /// <summary>The op type name.</summary>
    public string Name { get; }

    /// <summary>Declared inputs.</summary>
    public IReadOnlyList<CustomOpParameter> Inputs { get; }

    /// <summary>Declared outputs.</summary>
    public IReadOnlyList<CustomOpParameter> Outputs { get; }

    /// <summary>The kernel factory.</summary>
    public Func<KernelInfo, ICustomKernel> CreateKernel { get; }

    /// <summary>First opset version served.</summary>
    public int SinceVersion { get; }

    /// <summary>Last opset version served (inclusive).</summary>
    public int EndVersion { get; }

    /// <summary>The domain this op was added to (set once, when added); used in error messages.</summary>
    public string? Domain { get; internal set; }

    /// <summary>The native block ORT sees; created when the op is first added to a domain.</summary>
    internal NativeCustomOp? Native { get; set; }

    /// <summary><c>domain.Name</c> (or just the name before it joins a domain).</summary>
    public override string ToString() => string.IsNullOrEmpty(Domain) ? Name : $"{Domain}.{Name}";

    private static void CheckVariadicLast(IReadOnlyList<CustomOpParameter> ps, string op, string what)
    {
        for (int i = 0; i < ps.Count - 1; i++)
            if (ps[i].Arity == CustomOpArity.Variadic)
                throw new ArgumentException($"op {op}: {what} {i} is variadic but not last; only the last {what} may be variadic");
        for (int i = 0; i < ps.Count; i++)
            if (ps[i].Arity == CustomOpArity.Variadic && ps[i].MinArity < 0)
                throw new ArgumentException($"op {op}: {what} {i} has a negative minimum arity");
    }
}

/// <summary>
/// The per-node implementation of a custom op. Created once per node; <see cref="Compute"/> is called for every Run,
/// possibly from several threads at once (concurrent Run calls on one session share the kernel), so a kernel must be
/// immutable after creation. If the kernel is <see cref="IDisposable"/>, it is disposed when ORT destroys it.
/// </summary>
public interface ICustomKernel
{
    /// <summary>Computes the node's outputs. An exception becomes an ORT error naming the op and node; the Run fails with it.</summary>
    void Compute(KernelContext context);
}
