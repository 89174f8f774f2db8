namespace Mx.Onnx.ExternalData;

/// <summary>
/// Appends tensors to a new external data file at aligned offsets. Runs of zero bytes are skipped rather than written,
/// which leaves holes that read back as zeros: the file comes out sparse where the data is zero, and writing it costs
/// no I/O for those parts. This is only correct for a freshly created file, which is the only kind it writes.
/// </summary>
internal sealed class ExternalDataWriter : IDisposable
{
    private const int ChunkBytes = 1 << 20;
    private readonly FileStream _stream;
    private readonly int _alignment;
    private long _end;

    public ExternalDataWriter(string path, int alignment)
    {
        if (alignment < 1) throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "alignment must be at least 1");
        _alignment = alignment;
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
    }

    /// <summary>Writes <paramref name="data"/> at the next aligned offset and returns that offset.</summary>
    public long Append(ReadOnlySpan<byte> data)
    {
        long offset = (_end + _alignment - 1) / _alignment * _alignment;
        for (int done = 0; done < data.Length; done += ChunkBytes)
        {
            var chunk = data.Slice(done, Math.Min(ChunkBytes, data.Length - done));
            if (!chunk.ContainsAnyExcept((byte)0)) continue;
            _stream.Position = offset + done;
            _stream.Write(chunk);
        }
        _end = offset + data.Length;
        return offset;
    }

    /// <summary>Sets the final length (covering trailing holes) and flushes to disk.</summary>
    public void Complete()
    {
        _stream.SetLength(_end);
        _stream.Flush(flushToDisk: true);
    }

    public void Dispose() => _stream.Dispose();
}
