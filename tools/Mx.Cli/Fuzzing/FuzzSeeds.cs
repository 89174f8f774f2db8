using Google.Protobuf;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;

namespace Mx.Cli.Fuzzing;

/// <summary>
/// A valid packed model for the fuzzer to corrupt: one <c>mx.onnx</c> node (named <see cref="Node"/>) with its
/// packed initializers, and inputs that run it. Graph inputs have open dimensions, so that inputs of a wrong shape
/// reach the kernel instead of being refused by ORT's shape check.
/// </summary>
internal sealed record FuzzSeed(string Name, ModelProto Model, string Node, IReadOnlyDictionary<string, HostTensor> Feeds);

/// <summary>The seed models: every op, packed in formats with and without micro-exponents, with and without MX activations.</summary>
internal static class FuzzSeeds
{
    private const int Onnx8 = 2, OnnxFloat = 1, OnnxInt64 = 7;   // TensorProto.DataType

    /// <summary>All seeds, built deterministically.</summary>
    public static IReadOnlyList<FuzzSeed> All { get; } =
    [
        MatMul("matmul-mxfp4", MxFormats.Mxfp4E2M1, 32, bias: true, act: ""),
        MatMul("matmul-mxfp8-act-mxint8", MxFormats.Mxfp8E4M3, 32, bias: false, act: "mxint8"),
        MatMul("matmul-mxint8-act-mxint8", MxFormats.Mxint8, 32, bias: true, act: "mxint8"),
        MatMul("matmul-mx6", MxFormats.Mx6, 16, bias: true, act: ""),
        Gather("gather-mxfp6", MxFormats.Mxfp6E2M3),
        Gather("gather-mx9", MxFormats.Mx9),
        Dequantize("dequantize-mxint4", MxFormats.Mxint4),
        QuantizeDequantize("qdq-mxfp4"),
    ];

    private static FuzzSeed MatMul(string name, MxFormat format, int bs, bool bias, string act)
    {
        const int n = 24, k = 80, m = 3;
        var w = Pack(format, [n, k], 1, bs, seed: name.Length);
        var model = Model(name).Input("A", OnnxFloat, "m", "k").Output("Y", OnnxFloat, "m", n);
        var inputs = new List<string> { "A", "W_e", "W_s" };
        model.Packed(w, "W_e", "W_s", "W_m");
        if (bias) model.Floats("bias", Values(n, 9), n);
        if (bias || w.Micro.Length > 0) inputs.Add(bias ? "bias" : "");
        if (w.Micro.Length > 0) inputs.Add("W_m");
        var attributes = new List<(string, object)> { ("format", format.Name), ("block_size", (long)bs), ("K", (long)k), ("N", (long)n), ("alpha", 0.5f) };
        if (act.Length > 0) attributes.Add(("act_format", act));
        model.Node(MxMatMulOp.Name, [.. inputs], ["Y"], [.. attributes]);
        return new FuzzSeed(name, model.Proto, Builder.NodeName, new Dictionary<string, HostTensor> { ["A"] = HostTensor.FromFloats(Values(m * k, 3), m, k) });
    }

    private static FuzzSeed Gather(string name, MxFormat format)
    {
        const int v = 9, d = 48;
        var table = Pack(format, [v, d], 1, format.DefaultBlockSize, seed: 5);
        var model = Model(name).Input("idx", OnnxInt64, "a", "b").Output("Y", OnnxFloat, "a", "b", d);
        model.Packed(table, "T_e", "T_s", "T_m");
        string[] inputs = table.Micro.Length > 0 ? ["T_e", "T_s", "idx", "T_m"] : ["T_e", "T_s", "idx"];
        model.Node(MxGatherOp.Name, inputs, ["Y"], ("format", format.Name), ("block_size", (long)format.DefaultBlockSize), ("D", (long)d));
        var idx = new HostTensor(TensorElementType.Int64, [2, 3], new long[] { 0, 8, -1, 4, -9, 2 }.SelectMany(BitConverter.GetBytes).ToArray());
        return new FuzzSeed(name, model.Proto, Builder.NodeName, new Dictionary<string, HostTensor> { ["idx"] = idx });
    }

    private static FuzzSeed Dequantize(string name, MxFormat format)
    {
        int[] shape = [4, 40, 3];
        var p = Pack(format, shape, 1, format.DefaultBlockSize, seed: 6);
        var model = Model(name).Input("X", OnnxFloat, "p", "q", "r").Output("Y", OnnxFloat, "p", "q", "r");
        model.Packed(p, "D_e", "D_s", "D_m");
        model.Node(MxDequantizeOp.Name, ["D_e", "D_s"], ["W"], ("format", format.Name), ("shape", shape.Select(x => (long)x).ToArray()), ("axis", 1L));
        model.Proto.Graph.Node.Add(new NodeProto { OpType = "Add", Name = "add", Input = { "X", "W" }, Output = { "Y" } });
        return new FuzzSeed(name, model.Proto, Builder.NodeName, new Dictionary<string, HostTensor> { ["X"] = HostTensor.FromFloats(Values(4 * 40 * 3, 7), 4, 40, 3) });
    }

    private static FuzzSeed QuantizeDequantize(string name)
    {
        var model = Model(name).Input("X", OnnxFloat, "p", "q").Output("Y", OnnxFloat, "p", "q");
        model.Node(MxQuantizeDequantizeOp.Name, ["X"], ["Y"], ("format", "mxfp4_e2m1"), ("axis", -1L), ("scale_mode", "floor"), ("rounding", "even"));
        return new FuzzSeed(name, model.Proto, Builder.NodeName, new Dictionary<string, HostTensor> { ["X"] = HostTensor.FromFloats(Values(5 * 70, 8), 5, 70) });
    }

    private static MxPackedTensor Pack(MxFormat format, int[] shape, int axis, int bs, int seed)
    {
        int count = shape.Aggregate(1, (a, b) => a * b);
        return MxQuantizer.Quantize(Values(count, seed), shape, new MxQuantizeOptions(format) { Axis = axis, BlockSize = bs });
    }

    /// <summary>Deterministic values of mixed magnitude.</summary>
    private static float[] Values(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, i % 7 - 3))).ToArray();
    }

    private static Builder Model(string name) => new(name);

    /// <summary>A one-node model under construction.</summary>
    private sealed class Builder
    {
        public const string NodeName = "fuzz_node";

        public Builder(string name) => Proto = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "mx-fuzz",
            Graph = new GraphProto { Name = name },
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 }, new OperatorSetIdProto { Domain = MxOps.DomainName, Version = MxOps.DomainVersion } },
        };

        public ModelProto Proto { get; }

        public Builder Input(string name, int type, params object[] dims)
        {
            Proto.Graph.Input.Add(ValueInfos.Tensor(name, type, dims));
            return this;
        }

        public Builder Output(string name, int type, params object[] dims)
        {
            Proto.Graph.Output.Add(ValueInfos.Tensor(name, type, dims));
            return this;
        }

        /// <summary>The packed tensor's elements, scales and (when it has them) micro-exponents as uint8 initializers.</summary>
        public void Packed(MxPackedTensor p, string elements, string scales, string micro)
        {
            var l = p.Layout;
            Bytes(elements, p.Elements.ToArray(), l.Rows, l.RowBytes);
            Bytes(scales, p.Scales.ToArray(), l.Rows, l.BlocksPerRow);
            if (p.Micro.Length > 0) Bytes(micro, p.Micro.ToArray(), l.Rows, l.BlocksPerRow * l.MicroBytesPerBlock);
        }

        public void Floats(string name, float[] values, params long[] dims) =>
            Add(name, OnnxFloat, values.SelectMany(BitConverter.GetBytes).ToArray(), dims);

        private void Bytes(string name, byte[] data, params long[] dims) => Add(name, Onnx8, data, dims);

        private void Add(string name, int type, byte[] data, long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(data) };
            t.Dims.AddRange(dims);
            Proto.Graph.Initializer.Add(t);
        }

        public void Node(string op, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
        {
            var node = new NodeProto { OpType = op, Name = NodeName, Domain = MxOps.DomainName, Input = { inputs }, Output = { outputs } };
            foreach (var (name, value) in attributes) node.Attribute.Add(FuzzAttributes.Make(name, value));
            Proto.Graph.Node.Add(node);
        }
    }
}

/// <summary>Attribute construction shared by the seeds and the mutator.</summary>
internal static class FuzzAttributes
{
    /// <summary>An attribute from a long, float, string or long[] value.</summary>
    public static AttributeProto Make(string name, object value) => value switch
    {
        long l => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = l },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        long[] ls => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { ls } },
        _ => throw new ArgumentException($"unsupported attribute value {value.GetType().Name}"),
    };
}
