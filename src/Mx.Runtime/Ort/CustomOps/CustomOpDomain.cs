using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Mx.Runtime.Ort;

/// <summary>
/// A named set of custom ops (ORT's <c>OrtCustomOpDomain</c>), added to session options with
/// <see cref="AddTo(SessionOptions)"/>. ORT keeps pointers to the domain and its ops in options and sessions without
/// owning them, so the native domain is never released: it lives until the process ends (domains are made once, like
/// <c>MxOps.Domain</c>). An op may be added to one domain only.
/// </summary>
public sealed unsafe class CustomOpDomain
{
    private readonly nint _handle;
    private readonly List<CustomOpDefinition> _ops = [];

    /// <summary>Creates the domain <paramref name="name"/> (e.g. <c>com.example.mx</c>) holding <paramref name="ops"/>.</summary>
    public CustomOpDomain(string name, params IEnumerable<CustomOpDefinition> ops)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        nint domain;
        fixed (byte* n = OrtNative.Utf8Z(name))
            OrtNative.Check(OrtNative.CreateCustomOpDomain(n, out domain), $"creating custom-op domain '{name}'");
        _handle = domain;
        foreach (var op in ops) Add(op);
    }

    /// <summary>The domain name as used in node <c>domain</c> fields and opset imports.</summary>
    public string Name { get; }

    /// <summary>The ops added so far.</summary>
    public IReadOnlyList<CustomOpDefinition> Ops => _ops;

    internal nint Handle => _handle;

    // The domains added to each options object, so that adding one twice does nothing.
    private static readonly ConditionalWeakTable<SessionOptions, List<CustomOpDomain>> s_added = new();

    /// <summary>
    /// Adds this domain to <paramref name="options"/> (Microsoft.ML.OnnxRuntime's), so sessions created from them can
    /// run its ops. Adding the same domain to the same options again does nothing; another domain of the same name is
    /// refused (ORT would fail every session of those options). Thread-safe.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another domain named <see cref="Name"/> is already on the options.</exception>
    /// <exception cref="OrtException">ORT refused the domain.</exception>
    public void AddTo(SessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ObjectDisposedException.ThrowIf(options.IsInvalid, options);
        var added = s_added.GetOrCreateValue(options);
        lock (added)
        {
            if (added.Contains(this)) return;
            if (added.Any(d => d.Name == Name))
                throw new InvalidOperationException($"these session options already have another custom-op domain named '{Name}' (for example the MX ops registered for another device)");
            AddToNative(options.DangerousGetHandle());
            added.Add(this);
        }
    }

    /// <summary>Adds this domain to native <c>OrtSessionOptions*</c> of the same ONNX Runtime (no duplicate check).</summary>
    internal void AddToNative(nint nativeOptions) =>
        OrtNative.Check(OrtNative.AddCustomOpDomain(nativeOptions, Handle), $"adding custom-op domain '{Name}' to session options");

    /// <summary>Adds <paramref name="op"/> to the domain.</summary>
    /// <exception cref="InvalidOperationException">The op already belongs to another domain.</exception>
    public void Add(CustomOpDefinition op)
    {
        ArgumentNullException.ThrowIfNull(op);
        lock (op)
        {
            if (op.Domain is not null && op.Domain != Name)
                throw new InvalidOperationException($"op {op} already belongs to domain '{op.Domain}', cannot add it to '{Name}'");
            op.Domain = Name;
        }
        var native = NativeCustomOp.For(op);
        OrtNative.Check(OrtNative.CustomOpDomainAdd(Handle, native.Block), $"adding op {op.Name} to domain '{Name}'");
        _ops.Add(op);
    }
}
