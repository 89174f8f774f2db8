using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// A named set of custom ops for <see cref="OrtSessionOptions.CustomOpDomains"/> (ORT's <c>OrtCustomOpDomain</c>).
/// Sessions created with it hold a reference, so it lives at least as long as they do. An op may be added to one
/// domain only.
/// </summary>
public sealed unsafe class CustomOpDomain
{
    private readonly DomainHandle _handle;
    private readonly List<CustomOpDefinition> _ops = [];

    /// <summary>Creates the domain <paramref name="name"/> (e.g. <c>com.example.mx</c>) holding <paramref name="ops"/>.</summary>
    public CustomOpDomain(string name, params IEnumerable<CustomOpDefinition> ops)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        nint domain;
        fixed (byte* n = OrtNative.Utf8Z(name))
            OrtNative.Check(OrtNative.CreateCustomOpDomain(n, out domain), $"creating custom-op domain '{name}'");
        _handle = new DomainHandle(domain);
        foreach (var op in ops) Add(op);
    }

    /// <summary>The domain name as used in node <c>domain</c> fields and opset imports.</summary>
    public string Name { get; }

    /// <summary>The ops added so far.</summary>
    public IReadOnlyList<CustomOpDefinition> Ops => _ops;

    internal nint Handle => _handle.DangerousGetHandle();

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

    private sealed class DomainHandle(nint handle) : SafeHandle(handle, ownsHandle: true)
    {
        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            OrtNative.ReleaseCustomOpDomain(handle);
            return true;
        }
    }
}
