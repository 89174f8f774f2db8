using System.Runtime.InteropServices;
using Google.Protobuf;
using Mx.Onnx.ExternalData;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.TestModels.Decoder;

/// <summary>
/// Writes the generated decoder: <c>model.onnx</c> (graph, every weight declared as external data) and
/// <c>model.onnx.data</c> (the float32 weights, each at a 4096-aligned offset so ONNX Runtime can map it). The weights
/// are streamed: a few chunks are computed in parallel, written in order and dropped, so memory stays at a few tens of
/// MB whatever the model's size. Both files are written under temporary names and renamed at the end.
/// </summary>
public static class DecoderModelWriter
{
    /// <summary>Changes whenever the generated graph or weights change (cached models carry it in their folder name).</summary>
    public const string GeneratorVersion = "1";

    private const int Alignment = 4096;
    private const int ChunkValues = 1 << 18;   // 1 MiB of float32 per chunk

    /// <summary>What was written.</summary>
    /// <param name="ModelPath">The .onnx file.</param>
    /// <param name="DataPath">Its external data file.</param>
    /// <param name="WeightBytes">float32 bytes of the weights (the data file without alignment padding).</param>
    public sealed record Written(string ModelPath, string DataPath, long WeightBytes);

    /// <summary>Writes the decoder of <paramref name="config"/> as <paramref name="modelPath"/> plus <c>modelPath.data</c>.</summary>
    /// <param name="config">The shape.</param>
    /// <param name="attention">How attention is expressed.</param>
    /// <param name="modelPath">The .onnx file to write (its folder is created).</param>
    /// <param name="progress">Called with (bytes written, bytes in total) after each chunk.</param>
    public static Written Write(DecoderConfig config, DecoderAttention attention, string modelPath, Action<long, long>? progress = null)
    {
        var model = DecoderGraph.Build(config, attention);
        var tensors = DecoderWeights.All(config, attention);
        string full = Path.GetFullPath(modelPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string dataPath = full + ".data", dataName = Path.GetFileName(dataPath);
        string dataTemp = TempBeside(dataPath), modelTemp = TempBeside(full);
        try
        {
            long total = tensors.Sum(t => t.Count * sizeof(float)), done = 0;
            using (var data = new FileStream(dataTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                foreach (var t in tensors)
                {
                    long offset = (data.Position + Alignment - 1) / Alignment * Alignment;
                    data.SetLength(offset);
                    data.Position = offset;
                    WriteValues(data, t, written => progress?.Invoke(done + written, total));
                    done += t.Count * sizeof(float);
                    var proto = new TensorProto { Name = t.Name, DataType = (int)TensorElementType.Float };
                    proto.Dims.AddRange(t.Shape);
                    ExternalDataReference.Assign(proto, dataName, offset, t.Count * sizeof(float));
                    model.Graph.Initializer.Add(proto);
                }
                data.Flush(flushToDisk: true);
            }
            using (var file = new FileStream(modelTemp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                model.WriteTo(file);
            File.Move(dataTemp, dataPath, overwrite: true);
            File.Move(modelTemp, full, overwrite: true);
            return new Written(full, dataPath, total);
        }
        finally
        {
            foreach (string temp in new[] { dataTemp, modelTemp })
                if (File.Exists(temp)) File.Delete(temp);
        }
    }

    // Chunks of one tensor, a batch of them computed in parallel, then written in order.
    private static void WriteValues(FileStream data, DecoderTensor t, Action<long> progress)
    {
        int batch = Math.Max(1, Environment.ProcessorCount) * 2;
        var buffers = new float[batch][];
        long count = t.Count;
        for (long first = 0; first < count; first += (long)batch * ChunkValues)
        {
            int chunks = (int)Math.Min(batch, (count - first + ChunkValues - 1) / ChunkValues);
            Parallel.For(0, chunks, i =>
            {
                long start = first + (long)i * ChunkValues;
                int n = (int)Math.Min(ChunkValues, count - start);
                var buffer = buffers[i] ??= new float[ChunkValues];
                t.Fill(start, buffer.AsSpan(0, n));
            });
            for (int i = 0; i < chunks; i++)
            {
                long start = first + (long)i * ChunkValues;
                int n = (int)Math.Min(ChunkValues, count - start);
                data.Write(MemoryMarshal.AsBytes(buffers[i].AsSpan(0, n)));
                progress((start + n) * sizeof(float));
            }
        }
    }

    private static string TempBeside(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
}
