using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Onnx.Tests.Quantization;

/// <summary>Quantize-save-run helpers shared by the quantization tests.</summary>
internal static class QuantizeHarness
{
    /// <summary>Quantizes a model file and saves the result in <paramref name="folder"/>; returns the output path and result.</summary>
    public static (string Path, QuantizationResult Result) QuantizeFile(string input, string folder, QuantizationOptions options, string tag)
    {
        using var model = OnnxModel.Load(input);
        var result = ModelQuantizer.Quantize(model, new QuantizationPlan(options));
        string path = System.IO.Path.Combine(folder, $"{tag}.onnx");
        model.Save(path);
        return (path, result);
    }

    public static HostTensorSession Session(string path, bool mxOps = true)
    {
        using var options = Options(mxOps);
        // ORT fuses blocked DequantizeLinear → MatMul into MatMulNBits, which by default quantizes the activations
        // too; accuracy level 0 keeps the activations in float32 so the QDQ model computes what it says.
        options.AddSessionConfigEntry("session.qdq_matmulnbits_accuracy_level", "0");
        return HostTensorSession.FromFile(path, options);
    }

    public static HostTensorSession Session(ModelProto proto, bool mxOps = true)
    {
        using var options = Options(mxOps);
        return HostTensorSession.FromBytes(proto.ToByteArrayForTest(), options);
    }

    /// <summary>One intra-op thread; the MX ops registered unless <paramref name="mxOps"/> is false (to see a model fail without them).</summary>
    private static SessionOptions Options(bool mxOps) =>
        mxOps ? HostTensorSession.CreateOptions(1) : new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };

    private static byte[] ToByteArrayForTest(this ModelProto proto) => Google.Protobuf.MessageExtensions.ToByteArray(proto);

    /// <summary>Deterministic inputs for a session: normal floats, small non-negative integers, known special inputs.</summary>
    public static Dictionary<string, HostTensor> Inputs(HostTensorSession session, int seed = 7)
    {
        var random = new Random(seed);
        var inputs = new Dictionary<string, HostTensor>();
        var symbols = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var info in session.Inputs)
        {
            // The same symbol means the same size everywhere (batch in silero-vad's input and state).
            long[] shape = info.Shape.Select((d, i) => d >= 0 ? d
                : info.SymbolicDims.Length > i && info.SymbolicDims[i].Length > 0
                    ? symbols.TryGetValue(info.SymbolicDims[i], out long v) ? v : symbols[info.SymbolicDims[i]] = SymbolicDim(info, i)
                    : SymbolicDim(info, i)).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            inputs[info.Name] = info.ElementType switch
            {
                TensorElementType.Float => HostTensor.FromFloats(Enumerable.Range(0, (int)count).Select(_ => (float)Normal(random)).ToArray(), shape),
                TensorElementType.Int64 when info.Name == "sr" => Int64s([16000], shape),
                TensorElementType.Int64 => Int64s(Enumerable.Range(0, (int)count).Select(_ => (long)random.Next(0, 100)).ToArray(), shape),
                TensorElementType.Int32 => Int32s(Enumerable.Range(0, (int)count).Select(_ => random.Next(0, 100)).ToArray(), shape),
                TensorElementType.Bool => new HostTensor(TensorElementType.Bool, shape, Enumerable.Range(0, (int)count).Select(_ => (byte)random.Next(0, 2)).ToArray()),
                var t => throw new NotSupportedException($"input {info.Name}: {t}"),
            };
        }
        return inputs;
    }

    // Spatial dims of image inputs get a typical size; batch and sequence dims small values.
    private static long SymbolicDim(OrtTensorInfo info, int axis) =>
        info.Shape.Length == 4 && axis == 2 ? 48 : info.Shape.Length == 4 && axis == 3 ? 192 : info.Shape.Length == 2 && axis == 1 && info.Name == "input" ? 576 : axis == 0 ? 1 : 5;

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private static HostTensor Int64s(long[] v, long[] shape)
    {
        var bytes = new byte[v.Length * 8];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        return new HostTensor(TensorElementType.Int64, shape, bytes);
    }

    private static HostTensor Int32s(int[] v, long[] shape)
    {
        var bytes = new byte[v.Length * 4];
        Buffer.BlockCopy(v, 0, bytes, 0, bytes.Length);
        return new HostTensor(TensorElementType.Int32, shape, bytes);
    }

    /// <summary>Runs and returns the float outputs by name.</summary>
    public static Dictionary<string, float[]> Run(HostTensorSession session, Dictionary<string, HostTensor> inputs) =>
        session.Run(inputs).Where(kv => kv.Value.ElementType == TensorElementType.Float).ToDictionary(kv => kv.Key, kv => kv.Value.ToFloatArray());

    /// <summary>Largest |a − b| over all outputs relative to the largest |b| (and the absolute value when |b| is tiny).</summary>
    public static double RelativeDifference(Dictionary<string, float[]> a, Dictionary<string, float[]> b)
    {
        Assert.That(a.Keys, Is.EquivalentTo(b.Keys));
        double worst = 0;
        foreach (var (name, x) in a)
        {
            var y = b[name];
            Assert.That(x.Length, Is.EqualTo(y.Length), name);
            double scale = Math.Max(1e-6, y.Max(v => Math.Abs((double)v)));
            for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Math.Abs((double)x[i] - y[i]) / scale);
        }
        return worst;
    }

    /// <summary>The parsed mx.quantization metadata of a saved model.</summary>
    public static JsonDocument Metadata(ModelProto proto) =>
        JsonDocument.Parse(proto.MetadataProps.Single(p => p.Key == QuantizationMetadata.Key).Value);

    /// <summary>Every initializer of every graph, and Constant-node tensors under their output names.</summary>
    public static Dictionary<string, TensorProto> AllConstants(ModelProto proto)
    {
        var map = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var g in ModelWalker.AllGraphs(proto))
        {
            foreach (var t in g.Initializer) map.TryAdd(t.Name, t);
            foreach (var n in g.Node.Where(n => n.OpType == "Constant"))
                if (n.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } t) map.TryAdd(n.Output[0], t);
        }
        return map;
    }

    /// <summary>Replaces the float32 data of the initializer or Constant node named <paramref name="name"/>, wherever it is.</summary>
    public static void ReplaceWeight(ModelProto proto, string name, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        foreach (var g in ModelWalker.AllGraphs(proto))
        {
            foreach (var t in g.Initializer.Where(t => t.Name == name))
                Set(t);
            foreach (var n in g.Node.Where(n => n.OpType == "Constant" && n.Output[0] == name))
            {
                var t = new TensorProto { Name = name, DataType = 1 };
                var old = n.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
                if (old != null) t.Dims.AddRange(old.Dims); else t.Dims.Add(values.Length);
                n.Attribute.Clear();
                n.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = t });
                Set(t);
            }
        }

        void Set(TensorProto t)
        {
            t.FloatData.Clear();
            t.ExternalData.Clear();
            t.ClearDataLocation();
            t.RawData = Google.Protobuf.ByteString.CopyFrom(bytes);
        }
    }
}
