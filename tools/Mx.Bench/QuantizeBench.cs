using Mx.Onnx.Diagnostics;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Mx.Onnx;
using Mx.Onnx.ExternalData;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Bench;

/// <summary>Figures of one <see cref="QuantizeBench"/> run.</summary>
/// <param name="WeightBytes">float32 weight bytes in the generated model.</param>
/// <param name="OutputBytes">Bytes of the quantized model and its data file.</param>
/// <param name="GenerateSeconds">Time to write the generated model.</param>
/// <param name="QuantizeSeconds">Load + quantize + save, wall time.</param>
/// <param name="MBps">float32 weight MB (10⁶ bytes) processed per second of <paramref name="QuantizeSeconds"/>.</param>
/// <param name="PeakRssBytes">Peak resident set of the process (VmHWM) at the end.</param>
/// <param name="Tensors">Weights quantized.</param>
public sealed record QuantizeBenchResult(long WeightBytes, long OutputBytes, double GenerateSeconds, double QuantizeSeconds, double MBps, long PeakRssBytes, int Tensors);

/// <summary>
/// Large-model benchmark of the quantizer: writes a transformer-shaped model (q/k/v/o 4096×4096 and gate/up/down
/// 4096×11008 MatMuls per layer, layers until the requested size) with its weights in external data, generated in
/// chunks from a fixed seed, then loads, quantizes and saves it end to end, measuring time and peak memory.
/// </summary>
public static class QuantizeBench
{
    private const int Dim = 4096, Hidden = 11008;

    /// <summary>Runs the benchmark in <paramref name="folder"/> (created and deleted).</summary>
    public static QuantizeBenchResult Run(double gib, string folder, MxFormat format, Action<string>? log = null)
    {
        Directory.CreateDirectory(folder);
        try
        {
            string input = Path.Combine(folder, "large.onnx"), output = Path.Combine(folder, "large.mx.onnx");
            var sw = Stopwatch.StartNew();
            long weightBytes = Generate(input, (long)(gib * (1L << 30)));
            double generate = sw.Elapsed.TotalSeconds;
            log?.Invoke($"generated {weightBytes / 1e9:F2} GB of float32 weights in {generate:F1} s");
            sw.Restart();
            int tensors;
            using (var model = OnnxModel.Load(input))
            {
                var result = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Format = format }));
                tensors = result.Tensors.Count;
                model.Save(output, new OnnxSaveOptions { ExternalDataThreshold = 1024 });
            }
            double seconds = sw.Elapsed.TotalSeconds;
            long outBytes = new FileInfo(output).Length + new FileInfo(output + ".data").Length;
            return new QuantizeBenchResult(weightBytes, outBytes, generate, seconds, weightBytes / 1e6 / seconds, Math.Max(0, ProcessMemory.PeakResidentBytes()), tensors);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Writes the model to <paramref name="path"/> (weights in <c>PATH.data</c>) until its weights reach <paramref name="targetBytes"/>; returns their bytes.</summary>
    internal static long Generate(string path, long targetBytes)
    {
        var graph = new GraphProto { Name = "large" };
        graph.Input.Add(Value("x", 1, Dim));
        string dataName = Path.GetFileName(path) + ".data";
        long offset = 0, total = 0;
        ulong seed = 0x9E3779B97F4A7C15;
        var buffer = new float[1 << 20];
        using var data = new FileStream(Path.Combine(Path.GetDirectoryName(path)!, dataName), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        string x = "x";
        int layer = 0;
        string Weight(string name, int rows, int cols)
        {
            var t = new TensorProto { Name = name, DataType = 1 };
            t.Dims.Add(rows);
            t.Dims.Add(cols);
            long count = (long)rows * cols;
            float scale = 1f / MathF.Sqrt(rows);
            for (long done = 0; done < count; done += buffer.Length)
            {
                int n = (int)Math.Min(buffer.Length, count - done);
                for (int i = 0; i < n; i++) buffer[i] = scale * Uniform(ref seed);
                data.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
            }
            ExternalDataReference.Assign(t, dataName, offset, count * 4);
            offset += count * 4;
            total += count * 4;
            graph.Initializer.Add(t);
            return name;
        }
        string MatMul(string a, string w, string y)
        {
            graph.Node.Add(new NodeProto { OpType = "MatMul", Name = y, Input = { a, w }, Output = { y } });
            return y;
        }
        while (total < targetBytes)
        {
            string p = $"layers.{layer}.";
            string q = MatMul(x, Weight(p + "q.weight", Dim, Dim), p + "q");
            string k = MatMul(q, Weight(p + "k.weight", Dim, Dim), p + "k");
            string v = MatMul(k, Weight(p + "v.weight", Dim, Dim), p + "v");
            string o = MatMul(v, Weight(p + "o.weight", Dim, Dim), p + "o");
            string gate = MatMul(o, Weight(p + "gate.weight", Dim, Hidden), p + "gate");
            string up = MatMul(o, Weight(p + "up.weight", Dim, Hidden), p + "up");
            graph.Node.Add(new NodeProto { OpType = "Mul", Name = p + "swiglu", Input = { gate, up }, Output = { p + "swiglu" } });
            x = MatMul(p + "swiglu", Weight(p + "down.weight", Hidden, Dim), p + "down");
            layer++;
        }
        graph.Node.Add(new NodeProto { OpType = "Identity", Name = "output", Input = { x }, Output = { "y" } });
        graph.Output.Add(Value("y", 1, Dim));
        var model = new ModelProto { IrVersion = 10, ProducerName = "mx bench quantize", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        data.Flush();
        File.WriteAllBytes(path, model.ToByteArray());
        return total;
    }

    // xorshift64*: deterministic, fast, uniform in [-1, 1).
    private static float Uniform(ref ulong s)
    {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return ((s * 0x2545F4914F6CDD1DUL) >> 40) * (2f / (1 << 24)) - 1f;
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
