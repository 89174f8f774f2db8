using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// NUL-terminated UTF-8 copies of a fixed list of names in native memory that never moves, for passing to ORT as
/// <c>const char*</c>. Freed by the finalizer, so the owner need not be disposable; they live as long as their owner.
/// </summary>
internal sealed unsafe class NativeNames
{
    private readonly nint[] _ptrs;

    public NativeNames(IEnumerable<string> names)
    {
        _ptrs = names.Select(n =>
        {
            byte[] utf8 = OrtNative.Utf8Z(n);
            nint p = (nint)NativeMemory.Alloc((nuint)utf8.Length);
            utf8.CopyTo(new Span<byte>((void*)p, utf8.Length));
            return p;
        }).ToArray();
    }

    public nint this[int i] => _ptrs[i];

    public int Count => _ptrs.Length;

    ~NativeNames()
    {
        foreach (nint p in _ptrs) NativeMemory.Free((void*)p);
    }
}
