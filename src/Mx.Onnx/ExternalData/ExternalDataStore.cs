using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.ExternalData;

/// <summary>
/// The external data files of one loaded model, memory-mapped. Resolves each tensor's <c>external_data</c> against
/// the model's folder, refusing locations that are absolute, climb out with <c>..</c>, or lead out through a symbolic
/// link, and ranges that run past the end of the file. Owned by <see cref="OnnxModel"/>; disposing it unmaps the files.
/// </summary>
public sealed class ExternalDataStore : IDisposable
{
    private readonly Dictionary<string, MappedFile> _files = new(StringComparer.Ordinal);
    private readonly string _modelPath;
    private readonly string? _folder;
    private readonly string? _realFolder;

    /// <summary>Creates a store resolving locations against <paramref name="folder"/> (null: the model has no folder).</summary>
    /// <param name="modelPath">The model file (or a description of the source), for messages.</param>
    /// <param name="folder">The folder that external locations are relative to.</param>
    public ExternalDataStore(string modelPath, string? folder)
    {
        _modelPath = modelPath;
        if (folder != null)
        {
            _folder = Path.GetFullPath(folder);
            _realFolder = RealPath.Resolve(_folder);
        }
    }

    /// <summary>The folder external locations are relative to, or null.</summary>
    public string? Folder => _folder;

    /// <summary>Total bytes of the mapped files.</summary>
    public long MappedBytes => _files.Values.Sum(f => f.Length);

    /// <summary>The bytes of an external tensor: a view into the mapped file, valid while the store is alive.</summary>
    /// <exception cref="OnnxFormatException">The location or range is not acceptable, or the file is missing.</exception>
    public ReadOnlyMemory<byte> Read(TensorProto tensor)
    {
        var reference = ExternalDataReference.Parse(tensor, _modelPath);
        var file = Open(reference);
        long available = file.Length - reference.Offset;
        if (reference.Offset > file.Length)
            throw Error(reference, $"offset {reference.Offset} is past the end of the {file.Length}-byte file {file.Path}");
        long length = reference.Length ?? available;
        if (length > available)
            throw Error(reference, $"offset {reference.Offset} + length {length} is past the end of the {file.Length}-byte file {file.Path} (truncated?)");
        long? expected = TensorLayout.ByteCountOrNull(tensor);
        if (expected is long e && e != length)
            throw Error(reference, $"holds {length} bytes but its type and shape need {e}");
        if (length > int.MaxValue)
            throw Error(reference, $"{length} bytes: a single tensor over 2 GiB is not supported");
        return file.Slice(reference.Offset, (int)length);
    }

    private MappedFile Open(ExternalDataReference reference)
    {
        string location = reference.Location;
        if (_folder is null || _realFolder is null)
            throw Error(reference, "the model was not loaded from a file, so there is no folder to find external data in");
        if (Path.IsPathRooted(location) || location.StartsWith('/') || location.StartsWith('\\') || location.Contains(':'))
            throw Error(reference, "absolute locations are not allowed; external data must be relative to the model's folder");
        string lexical = Path.GetFullPath(Path.Combine(_folder, location.Replace('\\', '/')));
        if (!RealPath.IsInside(lexical, _folder))
            throw Error(reference, "'..' leads outside the model's folder");
        string real = RealPath.Resolve(lexical);
        if (!RealPath.IsInside(real, _realFolder))
            throw Error(reference, $"a symbolic link leads outside the model's folder (to {real})");
        if (_files.TryGetValue(real, out var file)) return file;
        if (!File.Exists(real))
            throw Error(reference, $"the external data file {lexical} does not exist");
        try
        {
            file = new MappedFile(real);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Error(reference, $"cannot open the external data file {lexical}: {ex.Message}");
        }
        _files.Add(real, file);
        return file;
    }

    private OnnxFormatException Error(ExternalDataReference r, string what) =>
        new($"{_modelPath}: tensor '{r.TensorName}', external data location '{r.Location}': {what}");

    /// <summary>Unmaps every file; views handed out before become invalid.</summary>
    public void Dispose()
    {
        foreach (var f in _files.Values) f.Dispose();
        _files.Clear();
    }
}
