using Google.Protobuf;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Bench;

/// <summary>
/// Generated models for <c>mx bench calibrate</c>: seeded random weights (uniform, scaled by 1/√fan-in) at realistic
/// shapes — the calibration's cost depends on shapes, not on what the weights learned. A small graph builder over the
/// ONNX proto classes; every model is opset 17.
/// </summary>
public static class CalibrationBenchModels
{
    /// <summary>
    /// A transformer-shaped decoder of width <paramref name="width"/>: input_ids [1, T] → Gather(512 × width) → 4 blocks of
    /// single-head attention (q, k, v, o: width × width) and a ReLU MLP (width × 4·width, 4·width × width), residual adds →
    /// logits MatMul (width × 512). Doubling the width multiplies the parameters by 4.
    /// </summary>
    public static OnnxModel Transformer(int width, int layers = 4, int vocab = 512)
    {
        var g = new Builder("transformer", (ulong)width);
        g.Input("input_ids", TensorElementType.Int64, 1, "T");
        string h = g.Node("Gather", [g.Weight("embed", [vocab, width], width), "input_ids"], "h0", ("axis", 0L));
        float scale = 1f / MathF.Sqrt(width);
        for (int l = 0; l < layers; l++)
        {
            string q = g.MatMul(h, $"l{l}.q", width, width), k = g.MatMul(h, $"l{l}.k", width, width), v = g.MatMul(h, $"l{l}.v", width, width);
            string kt = g.Node("Transpose", [k], $"l{l}.kt", ("perm", new long[] { 0, 2, 1 }));
            string s = g.Node("Mul", [g.Node("MatMul", [q, kt], $"l{l}.qk"), g.Constant($"l{l}.scale", scale)], $"l{l}.s");
            string a = g.Node("MatMul", [g.Node("Softmax", [s], $"l{l}.p", ("axis", -1L)), v], $"l{l}.a");
            h = g.Node("Add", [h, g.MatMul(a, $"l{l}.o", width, width)], $"l{l}.h1");
            string up = g.Node("Relu", [g.MatMul(h, $"l{l}.up", width, 4 * width)], $"l{l}.act");
            h = g.Node("Add", [h, g.MatMul(up, $"l{l}.down", 4 * width, width)], $"l{l}.h2");
        }
        g.Output(g.MatMul(h, "lm_head", width, vocab, "logits"), TensorElementType.Float, 1, "T", vocab);
        return g.Build();
    }

    /// <summary>
    /// A U²-Net-p-shaped salient-object network (about 1.1 M parameters): six encoder and five decoder residual U-blocks
    /// (RSU-7 … RSU-4F, 16 mid and 64 out channels, 3×3 convolutions with ReLU, dilated at the bottom of each block),
    /// max-pool down and nearest resize up, six side outputs fused by a 1×1 convolution; input [1, 3, 320, 320].
    /// </summary>
    public static OnnxModel U2NetP(int size = 320)
    {
        var g = new Builder("u2netp", 7);
        g.Input("image", TensorElementType.Float, 1, 3, size, size);
        string x = "image";
        var encoder = new List<string>();
        int[] heights = [7, 6, 5, 4, 0, 0];   // 0: the dilated RSU-4F
        for (int s = 0; s < 6; s++)
        {
            x = g.Rsu($"en{s + 1}", x, s == 0 ? 3 : 64, 16, 64, heights[s]);
            encoder.Add(x);
            if (s < 5) x = g.Node("MaxPool", [x], $"pool{s + 1}", ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
        }
        var sides = new List<string>();
        string d = encoder[5];
        sides.Add(d);
        for (int s = 4; s >= 0; s--)
        {
            string up = g.Upsample(d, $"up{s + 1}");
            d = g.Rsu($"de{s + 1}", g.Node("Concat", [up, encoder[s]], $"cat{s + 1}", ("axis", 1L)), 128, 16, 64, heights[s]);
            sides.Insert(0, d);
        }
        var maps = new List<string>();
        for (int s = 0; s < 6; s++)
        {
            string side = g.Conv(sides[s], $"side{s + 1}", 64, 1, 3, 1, relu: false);
            for (int u = 0; u < s; u++) side = g.Upsample(side, $"side{s + 1}.up{u}");
            maps.Add(side);
        }
        string fused = g.Conv(g.Node("Concat", maps.ToArray(), "sides", ("axis", 1L)), "fuse", 6, 1, 1, 1, relu: false);
        g.Output(g.Node("Sigmoid", [fused], "mask"), TensorElementType.Float, 1, 1, size, size);
        return g.Build();
    }

    /// <summary>
    /// An OCR text-line recognizer shaped like PP-OCR's (about 3 M parameters, 12 MB): a MobileNet-style backbone of
    /// depthwise-separable convolutions on [1, 3, 48, 320] down to a sequence of 160 columns × 288 channels, a
    /// 288 → 384 → 6625 head of MatMuls (the character classes) — CTC logits [1, 160, 6625].
    /// </summary>
    public static OnnxModel OcrRecognizer()
    {
        var g = new Builder("ocr", 11);
        g.Input("image", TensorElementType.Float, 1, 3, 48, 320);
        string x = g.Conv("image", "stem", 3, 32, 3, 1, stride: [2, 2]);
        (int Out, long[] Stride)[] stages = [(48, [1, 1]), (64, [2, 1]), (64, [1, 1]), (96, [2, 1]), (96, [1, 1]), (128, [1, 1]), (160, [2, 1]), (160, [1, 1]),
            (192, [1, 1]), (224, [1, 1]), (256, [1, 1]), (288, [2, 1]), (288, [1, 1])];
        int c = 32;
        for (int i = 0; i < stages.Length; i++)
        {
            x = g.Conv(x, $"b{i}.dw", c, c, 3, 1, stride: stages[i].Stride, group: c);
            x = g.Conv(x, $"b{i}.pw", c, stages[i].Out, 1, 1);
            c = stages[i].Out;
        }
        // [1, c, 2, 160] after the strides: pool the height, then columns become the sequence.
        x = g.Node("ReduceMean", [x], "pool", ("axes", new long[] { 2 }), ("keepdims", 0L));
        x = g.Node("Transpose", [x], "seq", ("perm", new long[] { 0, 2, 1 }));
        x = g.Node("Relu", [g.MatMul(x, "neck", c, 384)], "neck.act");
        g.Output(g.MatMul(x, "ctc", 384, 6625, "logits"), TensorElementType.Float, 1, "W", 6625);
        return g.Build();
    }

    /// <summary>Seeded samples for <paramref name="model"/>'s inputs: normal floats, token ids in [0, 512) for int64 inputs of <paramref name="tokens"/> positions.</summary>
    public static List<IReadOnlyDictionary<string, HostTensor>> Samples(OnnxModel model, int count, int tokens = 64, int seed = 1)
    {
        var rng = new Random(seed);
        var result = new List<IReadOnlyDictionary<string, HostTensor>>();
        for (int s = 0; s < count; s++)
        {
            var sample = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
            foreach (var input in model.Proto.Graph.Input)
            {
                var dims = input.Type.TensorType.Shape.Dim.Select(d => d.HasDimValue ? d.DimValue : tokens).ToArray();
                long n = dims.Aggregate(1L, (a, b) => a * b);
                if (input.Type.TensorType.ElemType == (int)TensorElementType.Int64)
                {
                    var ids = Enumerable.Range(0, (int)n).Select(_ => (long)rng.Next(512)).ToArray();
                    var bytes = new byte[n * 8];
                    Buffer.BlockCopy(ids, 0, bytes, 0, bytes.Length);
                    sample[input.Name] = new HostTensor(TensorElementType.Int64, dims, bytes);
                }
                else
                {
                    sample[input.Name] = HostTensor.FromFloats(Enumerable.Range(0, (int)n).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()))).ToArray(), dims);
                }
            }
            result.Add(sample);
        }
        return result;
    }

    /// <summary>Builds one graph; names of weights and values are unique by construction.</summary>
    private sealed class Builder(string name, ulong seed)
    {
        private readonly GraphProto _graph = new() { Name = name };
        private readonly Random _rng = new((int)(seed * 7919 + 17));

        public void Input(string value, TensorElementType type, params object[] dims) => _graph.Input.Add(Value(value, type, dims));

        public void Output(string value, TensorElementType type, params object[] dims) => _graph.Output.Add(Value(value, type, dims));

        public string Weight(string value, long[] shape, int fanIn)
        {
            float bound = MathF.Sqrt(3f / fanIn);
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(_rng.NextDouble() * 2 - 1) * bound;
            _graph.Initializer.Add(TensorFactory.Float32(value, shape, data));
            return value;
        }

        public string Constant(string value, params float[] data)
        {
            _graph.Initializer.Add(TensorFactory.Float32(value, data.Length == 1 ? [] : [data.Length], data));
            return value;
        }

        public string Node(string op, string[] inputs, string output, params (string Name, object Value)[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = output, Input = { inputs }, Output = { output } };
            foreach (var (n, v) in attributes)
                node.Attribute.Add(v switch
                {
                    long i => new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Int, I = i },
                    long[] a => new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Ints, Ints = { a } },
                    string s => new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
                    float f => new AttributeProto { Name = n, Type = AttributeProto.Types.AttributeType.Float, F = f },
                    _ => throw new ArgumentException($"attribute {n}: {v.GetType()}"),
                });
            _graph.Node.Add(node);
            return output;
        }

        public string MatMul(string x, string weight, int k, int n, string? output = null) => Node("MatMul", [x, Weight(weight, [k, n], k)], output ?? weight + ".y");

        public string Conv(string x, string weight, int cin, int cout, int kernel, int dilation, bool relu = true, long[]? stride = null, int group = 1)
        {
            string w = Weight(weight, [cout, cin / group, kernel, kernel], cin / group * kernel * kernel);
            string b = Weight(weight + ".bias", [cout], cin);
            long pad = dilation * (kernel - 1) / 2;
            string y = Node("Conv", [x, w, b], weight + ".y", ("dilations", new long[] { dilation, dilation }), ("pads", new long[] { pad, pad, pad, pad }),
                ("strides", stride ?? [1, 1]), ("group", (long)group));
            return relu ? Node("Relu", [y], weight + ".r") : y;
        }

        public string Upsample(string x, string output)
        {
            string scales = Constant(output + ".scales", 1, 1, 2, 2);
            return Node("Resize", [x, "", scales], output, ("mode", "nearest"));
        }

        // A residual U-block: height > 0 is RSU-height (pooling between levels); 0 is RSU-4F (dilations 1, 2, 4, 8).
        public string Rsu(string block, string x, int cin, int mid, int cout, int height)
        {
            string x0 = Conv(x, $"{block}.in", cin, cout, 3, 1);
            int levels = height > 0 ? height : 4;
            var enc = new List<string> { Conv(x0, $"{block}.e1", cout, mid, 3, 1) };
            for (int i = 2; i < levels; i++)
            {
                string prev = enc[^1];
                if (height > 0) prev = Node("MaxPool", [prev], $"{block}.p{i}", ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
                enc.Add(Conv(prev, $"{block}.e{i}", mid, mid, 3, height > 0 ? 1 : 1 << (i - 1)));
            }
            string d = Conv(enc[^1], $"{block}.bottom", mid, mid, 3, height > 0 ? 2 : 8);
            for (int i = levels - 1; i >= 1; i--)
            {
                string skip = enc[i - 1];
                string cat = Node("Concat", [d, skip], $"{block}.c{i}", ("axis", 1L));
                d = Conv(cat, $"{block}.d{i}", 2 * mid, i == 1 ? cout : mid, 3, height > 0 ? 1 : 1 << (i - 1));
                if (i > 1 && height > 0) d = Upsample(d, $"{block}.u{i}");
            }
            return Node("Add", [d, x0], $"{block}.out");
        }

        public OnnxModel Build()
        {
            var proto = new ModelProto { IrVersion = 8, ProducerName = "mx-bench", Graph = _graph };
            proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
            return OnnxModel.FromProto(proto, sourceName: name);
        }

        private static ValueInfoProto Value(string name, TensorElementType type, object[] dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture) });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
        }
    }
}
