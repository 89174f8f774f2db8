using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace Mx.Onnx.ExternalData;

/// <summary>
/// A read-only memory map of a whole external data file. Tensor bytes are handed out as views into the map rather
/// than copies, so multi-gigabyte weights never pass through the managed heap. The map stays valid until disposed,
/// even if the file is later replaced by rename (the map holds the old file).
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private bool _disposed;

    public MappedFile(string path)
    {
        Path = path;
        // FileShare.Delete lets a later save rename a new file over this one while the map is alive.
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        Length = stream.Length;
        if (Length == 0) return; // an empty file cannot be mapped; only zero-length tensors can refer to it
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    /// <summary>The full path of the mapped file.</summary>
    public string Path { get; }

    /// <summary>The file's length in bytes when it was mapped.</summary>
    public long Length { get; }

    /// <summary>A view of [offset, offset + length); the caller has checked the bounds.</summary>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (length == 0) return ReadOnlyMemory<byte>.Empty;
        return new View(this, _base + offset, length).Memory;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    /// <summary>Exposes a region of the map as <see cref="Memory{T}"/>.</summary>
    private sealed class View(MappedFile owner, byte* start, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan()
        {
            ObjectDisposedException.ThrowIf(owner._disposed, owner);
            return new Span<byte>(start, length);
        }

        public override MemoryHandle Pin(int elementIndex = 0) => new(start + elementIndex);

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
