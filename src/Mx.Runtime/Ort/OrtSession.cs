using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// An ONNX Runtime inference session. <see cref="Run(IReadOnlyDictionary{string, HostTensor}, IReadOnlyList{string})"/>
/// may be called from several threads at once; <see cref="Dispose"/> waits for no one, but a Run in progress keeps
/// the native session alive until it returns.
/// </summary>
public sealed unsafe class OrtSession : IDisposable
{
    private readonly SessionHandle _handle;
    private readonly NativeNames _inputNames;
    private readonly NativeNames _outputNames;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    // Referenced so the custom-op domains (and through them the native op blocks) outlive the session.
    private readonly CustomOpDomain[] _domains;

    private OrtSession(nint handle, string source, CustomOpDomain[] domains)
    {
        _handle = new SessionHandle(handle);
        Source = source;
        _domains = domains;
        Inputs = ReadInfos(handle, input: true);
        Outputs = ReadInfos(handle, input: false);
        _inputNames = new NativeNames(Inputs.Select(i => i.Name));
        _outputNames = new NativeNames(Outputs.Select(o => o.Name));
        _inputIndex = Inputs.Select((x, i) => (x.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        _outputIndex = Outputs.Select((x, i) => (x.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
    }

    /// <summary>Where the model came from (its path, or <c>&lt;N bytes&gt;</c>); used in error messages.</summary>
    public string Source { get; }

    /// <summary>The model's inputs, in the model's order (initializers that may be overridden are not listed).</summary>
    public IReadOnlyList<OrtTensorInfo> Inputs { get; }

    /// <summary>The model's outputs, in the model's order.</summary>
    public IReadOnlyList<OrtTensorInfo> Outputs { get; }

    /// <summary>Loads the model file at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="OrtException">ORT refused the model; the message names the file.</exception>
    public static OrtSession FromFile(string path, OrtSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"model file not found: {path}", path);
        return Create(options, $"loading model '{path}'", path, (env, opts) =>
        {
            fixed (byte* p = OrtNative.Utf8Z(full))
                return (OrtNative.CreateSession(env, p, opts, out nint s), s);
        });
    }

    /// <summary>Loads a model from the bytes of an ONNX file (ORT copies what it needs; the array may be reused afterwards).</summary>
    /// <exception cref="OrtException">ORT refused the model.</exception>
    public static OrtSession FromBytes(ReadOnlySpan<byte> model, OrtSessionOptions? options = null)
    {
        fixed (byte* p = model)
        {
            byte* data = p;
            nuint length = (nuint)model.Length;
            return Create(options, $"loading model from {model.Length} bytes", $"<{model.Length} bytes>",
                (env, opts) => (OrtNative.CreateSessionFromArray(env, data, length, opts, out nint s), s));
        }
    }

    private static OrtSession Create(OrtSessionOptions? options, string what, string source, Func<nint, nint, (nint Status, nint Session)> create)
    {
        options ??= new OrtSessionOptions();
        nint env = OrtEnvironment.Handle;
        nint native = options.CreateNative();
        try
        {
            var (status, session) = create(env, native);
            OrtNative.Check(status, what);
            try
            {
                return new OrtSession(session, source, [.. options.CustomOpDomains]);
            }
            catch
            {
                OrtNative.ReleaseSession(session);
                throw;
            }
        }
        finally
        {
            OrtNative.ReleaseSessionOptions(native);
        }
    }

    private static OrtTensorInfo[] ReadInfos(nint session, bool input)
    {
        OrtNative.Check(input ? OrtNative.SessionGetInputCount(session, out nuint n) : OrtNative.SessionGetOutputCount(session, out n));
        OrtNative.Check(OrtNative.GetAllocatorWithDefaultOptions(out nint allocator));
        var infos = new OrtTensorInfo[(int)n];
        for (nuint i = 0; i < n; i++)
        {
            OrtNative.Check(input ? OrtNative.SessionGetInputName(session, i, allocator, out byte* namePtr) : OrtNative.SessionGetOutputName(session, i, allocator, out namePtr));
            string name = Marshal.PtrToStringUTF8((nint)namePtr) ?? "";
            OrtNative.Check(OrtNative.AllocatorFree(allocator, namePtr));
            OrtNative.Check(input ? OrtNative.SessionGetInputTypeInfo(session, i, out nint typeInfo) : OrtNative.SessionGetOutputTypeInfo(session, i, out typeInfo));
            try
            {
                OrtNative.Check(OrtNative.GetOnnxTypeFromTypeInfo(typeInfo, out int onnxType));
                if (onnxType != 1 /* ONNX_TYPE_TENSOR */)
                {
                    infos[i] = new OrtTensorInfo(name, false, TensorElementType.Undefined, [], []);
                    continue;
                }
                // The tensor info belongs to the type info: not released separately.
                OrtNative.Check(OrtNative.CastTypeInfoToTensorInfo(typeInfo, out nint tensorInfo));
                long[] shape = OrtTensorShapes.Dimensions(tensorInfo);
                infos[i] = new OrtTensorInfo(name, true, OrtTensorShapes.ElementType(tensorInfo), shape, OrtTensorShapes.SymbolicDimensions(tensorInfo, shape.Length));
            }
            finally
            {
                OrtNative.ReleaseTypeInfo(typeInfo);
            }
        }
        return infos;
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
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        ValidateInputs(inputs);

        int nIn = inputs.Count, nOut = outputNames.Count;
        var inNames = new nint[nIn];
        var outNames = new nint[nOut];
        var inValues = new nint[nIn];
        var outValues = new nint[nOut];
        var pins = new GCHandle[nIn];
        bool addedRef = false;
        try
        {
            _handle.DangerousAddRef(ref addedRef);
            nint memoryInfo = CpuMemory.Info;
            int k = 0;
            foreach (var (name, tensor) in inputs)
            {
                inNames[k] = _inputNames[_inputIndex[name]];
                pins[k] = GCHandle.Alloc(tensor.Data, GCHandleType.Pinned);
                fixed (long* shape = tensor.Shape)
                    OrtNative.Check(OrtNative.CreateTensorWithDataAsOrtValue(memoryInfo, (void*)pins[k].AddrOfPinnedObject(), (nuint)tensor.Data.Length,
                        shape, (nuint)tensor.Shape.Length, OrtElementTypes.ToOrt(tensor.ElementType), out inValues[k]), $"creating input tensor '{name}' {tensor}");
                k++;
            }
            for (int i = 0; i < nOut; i++)
            {
                if (!_outputIndex.TryGetValue(outputNames[i], out int o))
                    throw new ArgumentException($"{Source} has no output '{outputNames[i]}'; outputs: {string.Join(", ", Outputs)}", nameof(outputNames));
                outNames[i] = _outputNames[o];
            }
            fixed (nint* pin = inNames, pout = outNames, vin = inValues, vout = outValues)
                OrtNative.Check(OrtNative.Run(_handle.DangerousGetHandle(), 0, (byte**)pin, vin, (nuint)nIn, (byte**)pout, (nuint)nOut, vout), $"running {Source}");
            var results = new HostTensor[nOut];
            for (int i = 0; i < nOut; i++) results[i] = CopyOut(outValues[i], outputNames[i]);
            return results;
        }
        finally
        {
            foreach (nint v in inValues) if (v != 0) OrtNative.ReleaseValue(v);
            foreach (nint v in outValues) if (v != 0) OrtNative.ReleaseValue(v);
            foreach (var p in pins) if (p.IsAllocated) p.Free();
            if (addedRef) _handle.DangerousRelease();
        }
    }

    private void ValidateInputs(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        foreach (var (name, tensor) in inputs)
        {
            if (!_inputIndex.TryGetValue(name, out int i))
                throw new ArgumentException($"{Source} has no input '{name}'; inputs: {string.Join(", ", Inputs)}", nameof(inputs));
            ArgumentNullException.ThrowIfNull(tensor, $"input '{name}'");
            var info = Inputs[i];
            if (!info.IsTensor)
                throw new ArgumentException($"input '{name}' of {Source} is not a tensor; only tensor inputs are supported", nameof(inputs));
            if (tensor.ElementType != info.ElementType)
                throw new ArgumentException($"input '{name}' of {Source} must be {info}, got {tensor.ElementType.OnnxName()}", nameof(inputs));
            if (!info.Accepts(tensor.Shape))
                throw new ArgumentException($"input '{name}' of {Source} must be {info}, got shape [{string.Join(", ", tensor.Shape)}]", nameof(inputs));
        }
        var missing = Inputs.Where(x => !inputs.ContainsKey(x.Name)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"missing input{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(m => $"'{m.Name}'"))} for {Source}; expected inputs: {string.Join(", ", Inputs)}", nameof(inputs));
    }

    private static HostTensor CopyOut(nint value, string name)
    {
        OrtNative.Check(OrtNative.GetValueType(value, out int onnxType));
        if (onnxType != 1) throw new NotSupportedException($"output '{name}' is not a tensor (ONNX type {onnxType}); only tensor outputs are supported");
        var (type, shape) = OrtTensorShapes.OfValue(value);
        if (type is TensorElementType.String)
            throw new NotSupportedException($"output '{name}' is a string tensor; string tensors are not supported");
        var tensor = HostTensor.Zeros(type, shape);
        if (tensor.Data.Length > 0)
        {
            OrtNative.Check(OrtNative.GetTensorMutableData(value, out void* data), $"reading output '{name}'");
            new ReadOnlySpan<byte>(data, tensor.Data.Length).CopyTo(tensor.Data);
        }
        return tensor;
    }

    /// <summary>Releases the native session (after any Run in progress returns).</summary>
    public void Dispose()
    {
        _handle.Dispose();
        GC.KeepAlive(_domains);
    }

    private sealed class SessionHandle(nint handle) : SafeHandle(handle, ownsHandle: true)
    {
        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            OrtNative.ReleaseSession(handle);
            return true;
        }
    }

    /// <summary>The CPU memory description that input tensors are created with; one per process, never released.</summary>
    private static class CpuMemory
    {
        private static readonly Lazy<nint> s_info = new(() =>
        {
            // OrtArenaAllocator = 1 (ignored for caller-owned data), OrtMemTypeDefault = 0.
            OrtNative.Check(OrtNative.CreateCpuMemoryInfo(1, 0, out nint info), "creating CPU memory info");
            return info;
        });

        public static nint Info => s_info.Value;
    }
}
