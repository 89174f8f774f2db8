using Google.Protobuf;
using Mx.Onnx.ExternalData;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Onnx;

/// <summary>
/// An ONNX model in memory: the <see cref="ModelProto"/> plus the memory maps of its external data files, which stay
/// open until the model is disposed. Load with <see cref="Load"/> or <see cref="FromBytes"/>, edit <see cref="Proto"/>
/// (directly or through <see cref="Graph"/>), write with <see cref="Save"/> or <see cref="ToBytes"/>.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private OnnxGraph? _graph;
    private NameRegistry? _names;

    private OnnxModel(ModelProto proto, string source, ExternalDataStore store)
    {
        Proto = proto;
        Source = source;
        ExternalData = store;
    }

    /// <summary>The protobuf model. External tensors keep their <c>external_data</c> entries; read their data with <see cref="GetTensorBytes"/>.</summary>
    public ModelProto Proto { get; }

    /// <summary>The file the model came from (full path), or a description such as <c>&lt;bytes&gt;</c>.</summary>
    public string Source { get; }

    /// <summary>The mapped external data files of the model.</summary>
    public ExternalDataStore ExternalData { get; }

    /// <summary>The main graph, indexed for rewriting. Call <see cref="Refresh"/> after editing the proto directly.</summary>
    public OnnxGraph Graph => _graph ??= new OnnxGraph(this, Proto.Graph, parent: null);

    /// <summary>Operator set version per domain; the default domain is <c>""</c> (<c>ai.onnx</c> is folded into it).</summary>
    public IReadOnlyDictionary<string, long> Opsets =>
        Proto.OpsetImport.GroupBy(o => NormalizeDomain(o.Domain)).ToDictionary(g => g.Key, g => g.Max(o => o.Version));

    /// <summary>The opset version of <paramref name="domain"/>, or null when the model does not import it.</summary>
    public long? OpsetVersion(string domain) => Opsets.TryGetValue(NormalizeDomain(domain), out long v) ? v : null;

    /// <summary>Loads a model file and maps its external data (relative to the file's folder).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="OnnxFormatException">The file is truncated, not protobuf, not a ModelProto, or its external data is bad.</exception>
    public static OnnxModel Load(string path, OnnxLoadOptions? options = null)
    {
        options ??= new OnnxLoadOptions();
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"{path}: model file not found", full);
        var info = new FileInfo(full);
        if (info.Length > OnnxSaveOptions.ProtobufLimit)
            throw new OnnxFormatException($"{path}: {info.Length} bytes is over the 2 GiB protobuf limit, so it cannot be an ONNX model file");
        byte[] bytes = File.ReadAllBytes(full);
        return Create(bytes, full, options.ExternalDataFolder ?? Path.GetDirectoryName(full), options);
    }

    /// <summary>Parses a model from bytes. External data, if any, is resolved against <paramref name="externalDataFolder"/>.</summary>
    /// <param name="bytes">The serialized ModelProto.</param>
    /// <param name="externalDataFolder">The folder external locations are relative to; null when there is none.</param>
    /// <param name="sourceName">How messages name the source.</param>
    public static OnnxModel FromBytes(ReadOnlySpan<byte> bytes, string? externalDataFolder = null, string sourceName = "<bytes>") =>
        Create(bytes, sourceName, externalDataFolder, new OnnxLoadOptions());

    /// <summary>Wraps an existing proto (not copied) as a model.</summary>
    public static OnnxModel FromProto(ModelProto proto, string? externalDataFolder = null, string sourceName = "<proto>")
    {
        ModelValidator.Validate(proto, sourceName);
        return new OnnxModel(proto, sourceName, new ExternalDataStore(sourceName, externalDataFolder));
    }

    private static OnnxModel Create(ReadOnlySpan<byte> bytes, string source, string? folder, OnnxLoadOptions options)
    {
        if (bytes.IsEmpty) throw new OnnxFormatException($"{source}: the file is empty, not an ONNX model");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            string what = LooksLikeTensor(bytes)
                ? "it parses as a TensorProto (such as a test_data_set .pb file), not a ModelProto"
                : "the protobuf is truncated or corrupt, or the file is not protobuf";
            throw new OnnxFormatException($"{source}: not an ONNX model: {what} ({ex.Message})", ex);
        }
        ModelValidator.Validate(proto, source);
        var model = new OnnxModel(proto, source, new ExternalDataStore(source, folder));
        if (options.ValidateExternalData)
        {
            try
            {
                foreach (var t in ModelWalker.AllTensors(proto))
                    if (ExternalDataReference.IsExternal(t)) model.ExternalData.Read(t);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        return model;
    }

    // A TensorProto parses cleanly and has a data type and a name or data: worth telling the user, a common mix-up.
    private static bool LooksLikeTensor(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var t = TensorProto.Parser.ParseFrom(bytes);
            return t.DataType > 0 && (t.HasRawData || t.Dims.Count > 0 || t.FloatData.Count > 0) && t.CalculateSize() == bytes.Length;
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes the model to <paramref name="path"/> and, when any tensor is stored externally, its data file beside it.
    /// Both are written under temporary names and renamed at the end, so a failure leaves no partial file and saving
    /// over the model's own source keeps the data this model still maps intact. This model is not changed.
    /// </summary>
    public void Save(string path, OnnxSaveOptions? options = null) => ModelSaver.Save(this, path, options ?? new OnnxSaveOptions());

    /// <summary>The model as bytes with every tensor inline (external data is read in).</summary>
    /// <exception cref="InvalidOperationException">The model would not fit in one protobuf (2 GiB).</exception>
    public byte[] ToBytes() => ModelSaver.ToBytes(this);

    /// <summary>Raw little-endian bytes of a tensor of this model; a view (not a copy) for raw and external data.</summary>
    public ReadOnlyMemory<byte> GetTensorBytes(TensorProto tensor) => TensorReader.RawBytes(tensor, ExternalData);

    /// <summary>A tensor's values as float32 (see <see cref="TensorReader.ToFloat32"/> for the accepted types).</summary>
    public float[] ReadFloat32(TensorProto tensor) => TensorReader.ToFloat32(tensor, ExternalData);

    /// <summary>
    /// Drops the memory-mapped pages of an external tensor from this process's resident set once it has been read (the
    /// data stays in the page cache and is re-read if touched again), so reading every weight of a large model once
    /// does not grow the process by the model's size. Does nothing for inline tensors.
    /// </summary>
    public void ReleasePages(TensorProto tensor) => Quantization.MappedPages.Release(GetTensorBytes(tensor));

    /// <summary>A tensor as a dense <see cref="HostTensor"/> (a copy).</summary>
    public HostTensor ReadHostTensor(TensorProto tensor) => TensorReader.ToHostTensor(tensor, ExternalData);

    /// <summary>The main graph's initializer named <paramref name="name"/>, or null.</summary>
    public TensorProto? FindInitializer(string name) => Proto.Graph.Initializer.FirstOrDefault(t => t.Name == name);

    /// <summary>Adds <paramref name="tensor"/> as an initializer of the main graph, replacing one of the same name (in place).</summary>
    /// <returns><paramref name="tensor"/>.</returns>
    public TensorProto SetInitializer(TensorProto tensor)
    {
        ArgumentException.ThrowIfNullOrEmpty(tensor.Name, nameof(tensor));
        var list = Proto.Graph.Initializer;
        int i = IndexOf(list, tensor.Name);
        if (i >= 0) list[i] = tensor; else list.Add(tensor);
        _names?.Reserve(tensor.Name);
        _graph?.Refresh();
        return tensor;
    }

    /// <summary>Creates or replaces a packed uint8 initializer holding <paramref name="data"/> (copied) with byte shape <paramref name="shape"/>.</summary>
    public TensorProto SetPackedInitializer(string name, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data) =>
        SetInitializer(TensorFactory.PackedUInt8(name, shape, data));

    /// <summary>Removes the main graph's initializer named <paramref name="name"/>; returns whether there was one.</summary>
    public bool RemoveInitializer(string name)
    {
        int i = IndexOf(Proto.Graph.Initializer, name);
        if (i < 0) return false;
        Proto.Graph.Initializer.RemoveAt(i);
        _graph?.Refresh();
        return true;
    }

    /// <summary>
    /// A name not used anywhere in the model (values, nodes, initializers, in every graph, subgraph and function):
    /// <paramref name="hint"/> itself if free, else <c>hint_1</c>, <c>hint_2</c>, .... The name is reserved.
    /// </summary>
    public string UniqueName(string hint) => (_names ??= NameRegistry.Of(Proto)).Create(hint);

    /// <summary>Re-indexes after the proto was edited directly (graph view and name registry are rebuilt on demand).</summary>
    public void Refresh()
    {
        _graph = null;
        _names = null;
    }

    /// <summary>Unmaps the external data files; tensor views obtained before become invalid.</summary>
    public void Dispose() => ExternalData.Dispose();

    internal static string NormalizeDomain(string domain) => domain == "ai.onnx" ? "" : domain;

    private static int IndexOf(Google.Protobuf.Collections.RepeatedField<TensorProto> list, string name)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i].Name == name) return i;
        return -1;
    }
}
