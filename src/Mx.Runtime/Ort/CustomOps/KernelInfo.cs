using System.Text;

namespace Mx.Runtime.Ort;

/// <summary>
/// What a custom kernel can learn about its node while it is being created: attributes, node name, input/output
/// counts and inputs that are constant (initializers). Valid only during <see cref="CustomOpDefinition.CreateKernel"/>;
/// any use afterwards throws <see cref="ObjectDisposedException"/>. Copy what the kernel needs to keep.
/// </summary>
public sealed unsafe class KernelInfo
{
    private nint _info;

    internal KernelInfo(nint info, CustomOpDefinition op)
    {
        _info = info;
        Op = op;
        NodeName = ReadNodeName(info);
    }

    /// <summary>The op being instantiated.</summary>
    public CustomOpDefinition Op { get; }

    /// <summary>The node's name (empty when the model gives none).</summary>
    public string NodeName { get; }

    /// <summary>How many inputs the node has (including absent optional ones it lists).</summary>
    public int InputCount
    {
        get
        {
            OrtNative.Check(OrtNative.KernelInfoGetInputCount(Info, out nuint n), Where);
            return (int)n;
        }
    }

    /// <summary>How many outputs the node has.</summary>
    public int OutputCount
    {
        get
        {
            OrtNative.Check(OrtNative.KernelInfoGetOutputCount(Info, out nuint n), Where);
            return (int)n;
        }
    }

    private nint Info => _info != 0 ? _info : throw new ObjectDisposedException(nameof(KernelInfo), $"{Where}: KernelInfo used after kernel creation");

    private string Where => $"{Op} node '{NodeName}'";

    internal void Invalidate() => _info = 0;

    // ---- attributes: Get* throw when absent (or of another type); TryGet* and the default overloads do not ----

    /// <summary>The float attribute <paramref name="name"/>.</summary>
    /// <exception cref="OrtException">The node has no float attribute of that name.</exception>
    public float GetFloat(string name) => TryGetFloat(name, out float v, out nint err) ? v : throw Missing(name, "float", err);

    /// <summary>The float attribute <paramref name="name"/>, or <paramref name="defaultValue"/> when the node has no float attribute of that name.</summary>
    public float GetFloat(string name, float defaultValue) => TryGetFloat(name, out float v) ? v : defaultValue;

    /// <summary>Reads the float attribute <paramref name="name"/>; false when the node has none of that name and type.</summary>
    public bool TryGetFloat(string name, out float value) => TryGetFloat(name, out value, out _, discard: true);

    /// <summary>The int attribute <paramref name="name"/>.</summary>
    /// <exception cref="OrtException">The node has no int attribute of that name.</exception>
    public long GetInt(string name) => TryGetInt(name, out long v, out nint err) ? v : throw Missing(name, "int", err);

    /// <summary>The int attribute <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public long GetInt(string name, long defaultValue) => TryGetInt(name, out long v) ? v : defaultValue;

    /// <summary>Reads the int attribute <paramref name="name"/>; false when absent.</summary>
    public bool TryGetInt(string name, out long value) => TryGetInt(name, out value, out _, discard: true);

    /// <summary>The string attribute <paramref name="name"/> (UTF-8 decoded).</summary>
    /// <exception cref="OrtException">The node has no string attribute of that name.</exception>
    public string GetString(string name) => TryGetString(name, out string? v, out nint err) ? v! : throw Missing(name, "string", err);

    /// <summary>The string attribute <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public string GetString(string name, string defaultValue) => TryGetString(name, out string? v) ? v! : defaultValue;

    /// <summary>Reads the string attribute <paramref name="name"/>; false when absent.</summary>
    public bool TryGetString(string name, out string? value) => TryGetString(name, out value, out _, discard: true);

    /// <summary>The ints attribute <paramref name="name"/>.</summary>
    /// <exception cref="OrtException">The node has no ints attribute of that name.</exception>
    public long[] GetInts(string name) => TryGetInts(name, out long[]? v, out nint err) ? v! : throw Missing(name, "ints", err);

    /// <summary>The ints attribute <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public long[] GetInts(string name, long[] defaultValue) => TryGetInts(name, out long[]? v) ? v! : defaultValue;

    /// <summary>Reads the ints attribute <paramref name="name"/>; false when absent.</summary>
    public bool TryGetInts(string name, out long[]? value) => TryGetInts(name, out value, out _, discard: true);

    /// <summary>The floats attribute <paramref name="name"/>.</summary>
    /// <exception cref="OrtException">The node has no floats attribute of that name.</exception>
    public float[] GetFloats(string name) => TryGetFloats(name, out float[]? v, out nint err) ? v! : throw Missing(name, "floats", err);

    /// <summary>The floats attribute <paramref name="name"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public float[] GetFloats(string name, float[] defaultValue) => TryGetFloats(name, out float[]? v) ? v! : defaultValue;

    /// <summary>Reads the floats attribute <paramref name="name"/>; false when absent.</summary>
    public bool TryGetFloats(string name, out float[]? value) => TryGetFloats(name, out value, out _, discard: true);

    // Each reader returns ORT's error status through `error` (or releases it when `discard`): failed statuses must
    // always be released, or they leak.
    private bool TryGetFloat(string name, out float value, out nint error, bool discard = false)
    {
        fixed (byte* n = OrtNative.Utf8Z(name))
            return Done(OrtNative.KernelInfoGetAttributeFloat(Info, n, out value), out error, discard);
    }

    private bool TryGetInt(string name, out long value, out nint error, bool discard = false)
    {
        fixed (byte* n = OrtNative.Utf8Z(name))
            return Done(OrtNative.KernelInfoGetAttributeInt64(Info, n, out value), out error, discard);
    }

    private bool TryGetString(string name, out string? value, out nint error, bool discard = false)
    {
        value = null;
        fixed (byte* n = OrtNative.Utf8Z(name))
        {
            nuint size = 0;
            if (!Done(OrtNative.KernelInfoGetAttributeString(Info, n, null, &size), out error, discard)) return false;
            var buffer = new byte[(int)size];
            fixed (byte* b = buffer)
                if (!Done(OrtNative.KernelInfoGetAttributeString(Info, n, b, &size), out error, discard)) return false;
            int len = Array.IndexOf(buffer, (byte)0);
            value = Encoding.UTF8.GetString(buffer, 0, len < 0 ? buffer.Length : len);
            return true;
        }
    }

    private bool TryGetInts(string name, out long[]? value, out nint error, bool discard = false)
    {
        value = null;
        fixed (byte* n = OrtNative.Utf8Z(name))
        {
            nuint size = 0;
            if (!Done(OrtNative.KernelInfoGetAttributeArrayInt64(Info, n, null, &size), out error, discard)) return false;
            var values = new long[(int)size];
            fixed (long* v = values)
                if (size > 0 && !Done(OrtNative.KernelInfoGetAttributeArrayInt64(Info, n, v, &size), out error, discard)) return false;
            value = values;
            return true;
        }
    }

    private bool TryGetFloats(string name, out float[]? value, out nint error, bool discard = false)
    {
        value = null;
        fixed (byte* n = OrtNative.Utf8Z(name))
        {
            nuint size = 0;
            if (!Done(OrtNative.KernelInfoGetAttributeArrayFloat(Info, n, null, &size), out error, discard)) return false;
            var values = new float[(int)size];
            fixed (float* v = values)
                if (size > 0 && !Done(OrtNative.KernelInfoGetAttributeArrayFloat(Info, n, v, &size), out error, discard)) return false;
            value = values;
            return true;
        }
    }

    private static bool Done(nint status, out nint error, bool discard)
    {
        if (status == 0)
        {
            error = 0;
            return true;
        }
        if (discard)
        {
            OrtNative.Discard(status);
            error = 0;
        }
        else
        {
            error = status;
        }
        return false;
    }

    private OrtException Missing(string name, string type, nint status) =>
        OrtNative.TakeError(status, $"{Where}: cannot read {type} attribute '{name}'");

    // ---- constant inputs ----

    /// <summary>
    /// A read-only view of input <paramref name="index"/> when it is a constant (an initializer) known at creation;
    /// false when it is not constant or absent. The view is valid only during kernel creation (ORT does not document
    /// longer): copy what you keep, e.g. with <see cref="KernelTensor.ToHostTensor"/>.
    /// </summary>
    public bool TryGetConstantInput(int index, out KernelTensor tensor)
    {
        tensor = default;
        if (index < 0 || index >= InputCount) return false;
        OrtNative.Check(OrtNative.KernelInfoGetConstantInputTensor(Info, (nuint)index, out int isConstant, out nint value), $"{Where}: reading constant input {index}");
        if (isConstant == 0 || value == 0) return false;
        var (type, shape) = OrtTensorShapes.OfValue(value);
        OrtNative.Check(OrtNative.GetTensorData(value, out void* data), $"{Where}: reading constant input {index}");
        tensor = new KernelTensor(type, shape, data, writable: false, new TensorLabel("constant input", index, Where));
        return true;
    }

    /// <summary>A managed copy of constant input <paramref name="index"/>, or null when it is not constant (or absent).</summary>
    public HostTensor? GetConstantInputCopy(int index) => TryGetConstantInput(index, out var t) ? t.ToHostTensor() : null;

    private static string ReadNodeName(nint info)
    {
        nuint size = 0;
        OrtNative.Check(OrtNative.KernelInfoGetNodeName(info, null, &size), "reading a custom node's name");
        if (size <= 1) return "";
        var buffer = new byte[(int)size];
        fixed (byte* b = buffer) OrtNative.Check(OrtNative.KernelInfoGetNodeName(info, b, &size), "reading a custom node's name");
        int len = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, len < 0 ? buffer.Length : len);
    }
}
