using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ops;
using OrtTensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Mx.Runtime.Ort;

/// <summary>
/// An <see cref="InferenceSession"/> fed and read with <see cref="HostTensor"/>s: inputs by name (checked against the
/// model, with messages that name the input), outputs copied out by name. The one place where this project turns
/// tensors into <see cref="OrtValue"/>s, so tools and libraries do not repeat that boilerplate. ORT's errors come out
/// as <see cref="OrtException"/>s whose message names the model. <see cref="Run(IReadOnlyDictionary{string, HostTensor}, IReadOnlyList{string})"/>
/// may be called from several threads at once.
/// </summary>
public sealed class HostTensorSession : IDisposable
{
    // Run options are only read by ORT's Run, so one instance serves every call on every thread.
    private static readonly RunOptions s_runOptions = new();
    private readonly SessionOptions? _ownedOptions;
    private readonly Dictionary<string, OrtTensorInfo> _inputs;
    private readonly HashSet<string> _outputs;
    private volatile bool _disposed;

    private HostTensorSession(InferenceSession session, string source, SessionOptions? ownedOptions)
    {
        Session = session;
        Source = source;
        _ownedOptions = ownedOptions;
        Inputs = session.InputNames.Select(n => Describe(n, session.InputMetadata[n])).ToArray();
        Outputs = session.OutputNames.Select(n => Describe(n, session.OutputMetadata[n])).ToArray();
        _inputs = Inputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        _outputs = new HashSet<string>(session.OutputNames, StringComparer.Ordinal);
    }

    /// <summary>The underlying session (for anything this helper does not cover).</summary>
    public InferenceSession Session { get; }

    /// <summary>Where the model came from (its path, or <c>&lt;N bytes&gt;</c>); used in error messages.</summary>
    public string Source { get; }

    /// <summary>The model's inputs, in the model's order.</summary>
    public IReadOnlyList<OrtTensorInfo> Inputs { get; }

    /// <summary>The model's outputs, in the model's order.</summary>
    public IReadOnlyList<OrtTensorInfo> Outputs { get; }

    /// <summary>
    /// New session options as this project's tools use them: the MX ops registered, ORT's own log limited to fatal
    /// messages (errors reach callers as exceptions), and <paramref name="intraOpThreads"/> intra-op threads (null or
    /// 0: ORT's default, one per core). The caller disposes them (sessions made from them do not need them afterwards).
    /// </summary>
    public static SessionOptions CreateOptions(int? intraOpThreads = null)
    {
        if (intraOpThreads is < 0) throw new ArgumentOutOfRangeException(nameof(intraOpThreads), intraOpThreads, "thread count must be 0 (ORT chooses) or positive");
        var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        try
        {
            if (intraOpThreads is int n) options.IntraOpNumThreads = n;
            return options.RegisterMxOps();
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>Loads the model file at <paramref name="path"/> with <paramref name="options"/> (default: <see cref="CreateOptions"/>).</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="OrtException">ORT refused the model; the message names the file.</exception>
    public static HostTensorSession FromFile(string path, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"model file not found: {path}", path);
        return Create(options, $"loading model '{path}'", path, o => new InferenceSession(full, o));
    }

    /// <summary>Loads a model from the bytes of an ONNX file, with <paramref name="options"/> (default: <see cref="CreateOptions"/>).</summary>
    /// <exception cref="OrtException">ORT refused the model.</exception>
    public static HostTensorSession FromBytes(byte[] model, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Create(options, $"loading model from {model.Length} bytes", $"<{model.Length} bytes>", o => new InferenceSession(model, o));
    }

    private static HostTensorSession Create(SessionOptions? options, string what, string source, Func<SessionOptions, InferenceSession> create)
    {
        var owned = options is null ? CreateOptions() : null;
        try
        {
            var session = Translate(what, () => create(options ?? owned!));
            try
            {
                return new HostTensorSession(session, source, owned);
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    /// <summary>Runs the model and returns every output, keyed by name, in the model's output order.</summary>
    public IReadOnlyDictionary<string, HostTensor> Run(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        var names = Outputs.Select(o => o.Name).ToArray();
        var values = Run(inputs, names);
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++) result.Add(names[i], values[i]);
        return result;
    }

    /// <summary>
    /// Runs the model on <paramref name="inputs"/> (every model input, by name) and returns the requested outputs in the
    /// order of <paramref name="outputNames"/>. Inputs are not copied: their arrays are pinned for the duration of the
    /// call. Outputs are allocated by ORT and copied into new <see cref="HostTensor"/>s. Thread-safe.
    /// </summary>
    /// <exception cref="ArgumentException">An input or output name is unknown, an input is missing, or an input's
    /// element type or shape does not fit the model; the message names it.</exception>
    /// <exception cref="OrtException">ORT failed to run the model.</exception>
    public HostTensor[] Run(IReadOnlyDictionary<string, HostTensor> inputs, IReadOnlyList<string> outputNames)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        ObjectDisposedException.ThrowIf(_disposed, this);
        ValidateInputs(inputs);
        foreach (string name in outputNames)
            if (!_outputs.Contains(name))
                throw new ArgumentException($"{Source} has no output '{name}'; outputs: {string.Join(", ", Outputs)}", nameof(outputNames));

        var names = new List<string>(inputs.Count);
        var values = new List<OrtValue>(inputs.Count);
        var pins = new List<GCHandle>(inputs.Count);
        try
        {
            foreach (var (name, tensor) in inputs)
            {
                var pin = GCHandle.Alloc(tensor.Data, GCHandleType.Pinned);
                pins.Add(pin);
                values.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, ToOrt(tensor.ElementType), tensor.Shape,
                    pin.AddrOfPinnedObject(), tensor.Data.Length));
                names.Add(name);
            }
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                outputs = Session.Run(s_runOptions, names, values, outputNames);
            }
            catch (OnnxRuntimeException e)
            {
                throw Wrapped(e, $"running {Source}");   // the message is built only on failure: Run is the hot path
            }
            using var _ = outputs;
            var results = new HostTensor[outputNames.Count];
            int i = 0;
            foreach (var value in outputs)
            {
                results[i] = CopyOut(value, outputNames[i]);
                i++;
            }
            return results;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
            foreach (var p in pins) p.Free();
        }
    }

    private void ValidateInputs(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        foreach (var (name, tensor) in inputs)
        {
            if (!_inputs.TryGetValue(name, out var info))
                throw new ArgumentException($"{Source} has no input '{name}'; inputs: {string.Join(", ", Inputs)}", nameof(inputs));
            ArgumentNullException.ThrowIfNull(tensor, $"input '{name}'");
            if (!info.IsTensor)
                throw new ArgumentException($"input '{name}' of {Source} is not a tensor; only tensor inputs are supported", nameof(inputs));
            if (tensor.ElementType != info.ElementType)
                throw new ArgumentException($"input '{name}' of {Source} must be {info}, got {tensor.ElementType.OnnxName()}", nameof(inputs));
            if (tensor.ElementType is TensorElementType.String)
                throw new ArgumentException($"input '{name}' of {Source} is a string tensor; string tensors are not supported", nameof(inputs));
            if (!info.Accepts(tensor.Shape))
                throw new ArgumentException($"input '{name}' of {Source} must be {info}, got shape [{string.Join(", ", tensor.Shape)}]", nameof(inputs));
        }
        if (inputs.Count == Inputs.Count) return;   // every name is a model input and names are unique: none missing
        var missing = Inputs.Where(x => !inputs.ContainsKey(x.Name)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"missing input{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(m => $"'{m.Name}'"))} for {Source}; expected inputs: {string.Join(", ", Inputs)}", nameof(inputs));
    }

    private static HostTensor CopyOut(OrtValue value, string name)
    {
        if (!value.IsTensor) throw new NotSupportedException($"output '{name}' is not a tensor ({value.OnnxType}); only tensor outputs are supported");
        var info = value.GetTensorTypeAndShape();
        var type = OrtElementTypes.FromOrt((int)info.ElementDataType);
        if (type is TensorElementType.String)
            throw new NotSupportedException($"output '{name}' is a string tensor; string tensors are not supported");
        var tensor = HostTensor.Zeros(type, info.Shape);
        if (tensor.Data.Length > 0) value.GetTensorMutableRawData()[..tensor.Data.Length].CopyTo(tensor.Data);
        return tensor;
    }

    private static OrtTensorInfo Describe(string name, NodeMetadata meta)
    {
        if (!meta.IsTensor) return new OrtTensorInfo(name, false, TensorElementType.Undefined, [], []);
        long[] shape = meta.Dimensions.Select(d => (long)d).ToArray();
        string[] symbols = meta.SymbolicDimensions.Select(s => s ?? "").ToArray();
        if (symbols.Length != shape.Length) symbols = new string[shape.Length].Select(_ => "").ToArray();
        return new OrtTensorInfo(name, true, OrtElementTypes.FromOrt((int)meta.ElementDataType), shape, symbols);
    }

    private static OrtTensorElementType ToOrt(TensorElementType type) => (OrtTensorElementType)OrtElementTypes.ToOrt(type);

    /// <summary>Runs <paramref name="call"/>, turning ORT's exception into an <see cref="OrtException"/> that says what was being done.</summary>
    private static T Translate<T>(string what, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (OnnxRuntimeException e)
        {
            throw Wrapped(e, what);
        }
    }

    private static OrtException Wrapped(OnnxRuntimeException e, string what)
    {
        var (code, message) = OrtExceptions.Split(e);
        return new OrtException(code, message, $"{what}: {message}", e);
    }

    /// <summary>Releases the session (and the options it created itself).</summary>
    public void Dispose()
    {
        _disposed = true;
        Session.Dispose();
        _ownedOptions?.Dispose();
    }
}
