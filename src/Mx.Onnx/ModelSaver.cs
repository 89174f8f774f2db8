using Google.Protobuf;
using Mx.Onnx.ExternalData;
using Mx.Onnx.IO;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx;

/// <summary>Writes an <see cref="OnnxModel"/>: decides which tensors go to external data, writes both files atomically.</summary>
internal static class ModelSaver
{
    // Bytes a tensor's raw_data field costs beyond its data: tag and length prefix, rounded up.
    private const long FieldOverhead = 16;

    private sealed record Placement(TensorProto Tensor, ReadOnlyMemory<byte> Data, bool WasExternal)
    {
        public bool External { get; set; }
    }

    public static void Save(OnnxModel model, string path, OnnxSaveOptions options)
    {
        string target = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{path}: folder {folder} does not exist");
        string dataName = options.ExternalDataFileName ?? Path.GetFileName(target) + ".data";
        if (dataName.Length == 0 || dataName.IndexOfAny(['/', '\\', ':']) >= 0 || dataName is "." or "..")
            throw new ArgumentException($"external data file name '{dataName}' must be a plain file name (it is written beside the model)", nameof(options));
        if (string.Equals(dataName, Path.GetFileName(target), StringComparison.Ordinal))
            throw new ArgumentException($"external data file name '{dataName}' is the model file's own name", nameof(options));

        var clone = model.Proto.Clone();
        var placements = Plan(model, clone, options);
        string? tempData = null, tempModel = null;
        try
        {
            if (placements.Any(p => p.External))
            {
                tempData = AtomicFile.TempPathBeside(Path.Combine(folder, dataName));
                using var writer = new ExternalDataWriter(tempData, options.Alignment);
                foreach (var p in placements.Where(p => p.External))
                {
                    long offset = writer.Append(p.Data.Span);
                    ExternalDataReference.Assign(p.Tensor, dataName, offset, p.Data.Length);
                }
                writer.Complete();
            }
            foreach (var p in placements.Where(p => !p.External && p.WasExternal))
                Inline(p);
            tempModel = AtomicFile.TempPathBeside(target);
            using (var stream = new FileStream(tempModel, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                clone.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }
            // Data first: the model must never refer to data that is not there yet.
            if (tempData != null) AtomicFile.Commit(tempData, Path.Combine(folder, dataName));
            tempData = null;
            AtomicFile.Commit(tempModel, target);
            tempModel = null;
        }
        finally
        {
            AtomicFile.TryDelete(tempData);
            AtomicFile.TryDelete(tempModel);
        }
    }

    public static byte[] ToBytes(OnnxModel model)
    {
        var clone = model.Proto.Clone();
        var external = ModelWalker.AllTensors(clone).Where(ExternalDataReference.IsExternal)
            .Select(t => new Placement(t, model.ExternalData.Read(t), WasExternal: true)).ToList();
        long size = Estimate(clone, external);
        if (size > OnnxSaveOptions.ProtobufLimit)
            throw new InvalidOperationException($"{model.Source}: the model with all data inline would take {size} bytes, over the 2 GiB protobuf limit; save it to a file with external data instead");
        foreach (var p in external) Inline(p);
        return clone.ToByteArray();
    }

    /// <summary>Decides for every data-bearing tensor of <paramref name="clone"/> whether it is written inline or externally.</summary>
    private static List<Placement> Plan(OnnxModel model, ModelProto clone, OnnxSaveOptions options)
    {
        var placements = new List<Placement>();
        foreach (var t in ModelWalker.AllTensors(clone))
        {
            bool external = ExternalDataReference.IsExternal(t);
            if (!external && !t.HasRawData) continue; // typed fields stay where they are (they are small in practice)
            var data = external ? model.ExternalData.Read(t) : t.RawData.Memory;
            var p = new Placement(t, data, external);
            p.External = options.ExternalDataThreshold is long limit ? data.Length > limit : external;
            placements.Add(p);
        }
        long max = Math.Min(options.MaxProtobufBytes, OnnxSaveOptions.ProtobufLimit);
        long size = Estimate(clone, placements);
        if (size > max)
        {
            // Too big for one protobuf: store it the way large models are stored, every tensor above the fallback
            // threshold outside; then, should that not be enough, the largest remaining ones until it fits.
            foreach (var p in placements.Where(p => !p.External && p.Data.Length > options.FallbackExternalDataThreshold))
            {
                p.External = true;
                size -= p.Data.Length + FieldOverhead;
            }
        }
        foreach (var p in placements.Where(p => !p.External).OrderByDescending(p => p.Data.Length))
        {
            if (size <= max) break;
            p.External = true;
            size -= p.Data.Length + FieldOverhead;
        }
        if (size > max)
            throw new InvalidOperationException($"{model.Source}: the model's structure alone takes about {size} bytes, over the protobuf limit of {max}");
        return placements;
    }

    /// <summary>The protobuf size once the placements are applied (tensors moving inline counted at their data size).</summary>
    private static long Estimate(ModelProto clone, List<Placement> placements)
    {
        long size = clone.CalculateSize();
        foreach (var p in placements)
        {
            if (p.WasExternal && !p.External) size += p.Data.Length + FieldOverhead;
            if (!p.WasExternal && p.External) size -= p.Data.Length;
        }
        return size;
    }

    private static void Inline(Placement p)
    {
        p.Tensor.ExternalData.Clear();
        p.Tensor.ClearDataLocation();
        p.Tensor.RawData = ByteString.CopyFrom(p.Data.Span);
    }
}
