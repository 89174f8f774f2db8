using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using static Mx.TestModels.GraphBuilder;

namespace Mx.TestModels;

/// <summary>
/// Writes the small deterministic models of testmodels/. Each covers a case the quantizer and the graph rewriting
/// must handle; the weights come from <see cref="SplitMix64"/> with a fixed seed per model, so the files never change.
/// </summary>
public static class TestModelGenerator
{
    private const TensorElementType F32 = TensorElementType.Float;

    /// <summary>The files written, relative to the output folder.</summary>
    public static readonly string[] Files =
    [
        "mlp_outliers.onnx", "transformer_block.onnx", "gemm_transb_bias.onnx", "convnet.onnx", "shared_weight.onnx",
        "constant_weights.onnx", "external_data/model.onnx", "external_data/model.onnx.data",
    ];

    /// <summary>Writes every model into <paramref name="folder"/> (created if needed).</summary>
    public static void Generate(string folder)
    {
        Directory.CreateDirectory(Path.Combine(folder, "external_data"));
        Save(MlpOutliers(), Path.Combine(folder, "mlp_outliers.onnx"));
        Save(TransformerBlock(), Path.Combine(folder, "transformer_block.onnx"));
        Save(GemmTransBBias(), Path.Combine(folder, "gemm_transb_bias.onnx"));
        Save(ConvNet(), Path.Combine(folder, "convnet.onnx"));
        Save(SharedWeight(), Path.Combine(folder, "shared_weight.onnx"));
        Save(ConstantWeights(), Path.Combine(folder, "constant_weights.onnx"));
        Save(ExternalDataMlp(), Path.Combine(folder, "external_data", "model.onnx"), new OnnxSaveOptions { ExternalDataThreshold = 1024 });
    }

    private static void Save(ModelProto proto, string path, OnnxSaveOptions? options = null)
    {
        using var model = OnnxModel.FromProto(proto, sourceName: Path.GetFileName(path));
        model.Save(path, options);
    }

    // Weights scaled like a trained layer: uniform with variance about 1/fan_in.
    private static float[] Dense(SplitMix64 rng, int fanIn, int fanOut) => rng.Symmetric(fanIn * fanOut, (float)Math.Sqrt(3.0 / fanIn));

    /// <summary>128 → 256 → 64 MLP; input channels 5, 40 and 101 of the first weight are 30× larger (outliers), as in LLM activations.</summary>
    private static ModelProto MlpOutliers()
    {
        var rng = new SplitMix64(1);
        var w1 = Dense(rng, 128, 256);
        foreach (int row in new[] { 5, 40, 101 })
            for (int j = 0; j < 256; j++) w1[row * 256 + j] *= 30f;
        return new GraphBuilder("mlp_outliers")
            .Input("x", F32, "batch", 128).Output("y", F32, "batch", 64)
            .Weight("fc1.weight", [128, 256], w1).Weight("fc1.bias", [256], rng.Symmetric(256, 0.1f))
            .Weight("fc2.weight", [256, 64], Dense(rng, 256, 64)).Weight("fc2.bias", [64], rng.Symmetric(64, 0.1f))
            .Node("MatMul", ["x", "fc1.weight"], ["h1"]).Node("Add", ["h1", "fc1.bias"], ["h1b"]).Node("Relu", ["h1b"], ["h1r"])
            .Node("MatMul", ["h1r", "fc2.weight"], ["h2"]).Node("Add", ["h2", "fc2.bias"], ["y"])
            .Build(doc: "MLP 128-256-64 whose first weight has outlier input channels 5, 40, 101");
    }

    /// <summary>Pre-norm transformer block, dim 64, one head, SwiGLU MLP with hidden 172 (not a multiple of 32).</summary>
    private static ModelProto TransformerBlock()
    {
        const int d = 64, hidden = 172;
        var rng = new SplitMix64(2);
        var ones = Enumerable.Repeat(1f, d).ToArray();
        return new GraphBuilder("transformer_block")
            .Input("x", F32, "batch", "seq", d).Output("y", F32, "batch", "seq", d)
            .Weight("ln1.scale", [d], ones).Weight("ln1.bias", [d], new float[d])
            .Weight("attn.wq", [d, d], Dense(rng, d, d)).Weight("attn.wk", [d, d], Dense(rng, d, d))
            .Weight("attn.wv", [d, d], Dense(rng, d, d)).Weight("attn.wo", [d, d], Dense(rng, d, d))
            .Weight("attn.scale", [], [0.125f])
            .Weight("ln2.scale", [d], ones).Weight("ln2.bias", [d], new float[d])
            .Weight("mlp.w1", [d, hidden], Dense(rng, d, hidden)).Weight("mlp.w3", [d, hidden], Dense(rng, d, hidden))
            .Weight("mlp.w2", [hidden, d], Dense(rng, hidden, d))
            .Node("LayerNormalization", ["x", "ln1.scale", "ln1.bias"], ["h"], Int("axis", -1), Float("epsilon", 1e-5f))
            .Node("MatMul", ["h", "attn.wq"], ["q"]).Node("MatMul", ["h", "attn.wk"], ["k"]).Node("MatMul", ["h", "attn.wv"], ["v"])
            .Node("Transpose", ["k"], ["kt"], Ints("perm", 0, 2, 1))
            .Node("MatMul", ["q", "kt"], ["scores"]).Node("Mul", ["scores", "attn.scale"], ["scaled"])
            .Node("Softmax", ["scaled"], ["probs"], Int("axis", -1))
            .Node("MatMul", ["probs", "v"], ["ctx"]).Node("MatMul", ["ctx", "attn.wo"], ["attn_out"])
            .Node("Add", ["x", "attn_out"], ["x1"])
            .Node("LayerNormalization", ["x1", "ln2.scale", "ln2.bias"], ["h2"], Int("axis", -1), Float("epsilon", 1e-5f))
            .Node("MatMul", ["h2", "mlp.w1"], ["gate"]).Node("MatMul", ["h2", "mlp.w3"], ["up"])
            .Node("Sigmoid", ["gate"], ["gate_sig"]).Node("Mul", ["gate", "gate_sig"], ["silu"])
            .Node("Mul", ["silu", "up"], ["swiglu"]).Node("MatMul", ["swiglu", "mlp.w2"], ["down"])
            .Node("Add", ["x1", "down"], ["y"])
            .Build(doc: "Transformer block: LayerNorm, single-head attention (q/k/v/o), LayerNorm, SwiGLU MLP 64-172-64");
    }

    /// <summary>Gemm with transB = 1, a bias, alpha = 0.5 and beta = 2.</summary>
    private static ModelProto GemmTransBBias()
    {
        var rng = new SplitMix64(3);
        return new GraphBuilder("gemm_transb_bias")
            .Input("x", F32, "batch", 96).Output("y", F32, "batch", 48)
            .Weight("fc.weight", [48, 96], Dense(rng, 96, 48)).Weight("fc.bias", [48], rng.Symmetric(48, 0.5f))
            .Node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"], Float("alpha", 0.5f), Float("beta", 2f), Int("transB", 1))
            .Build(doc: "Gemm 96 -> 48 with transB = 1, bias, alpha = 0.5, beta = 2");
    }

    /// <summary>Conv 1→8 3×3, Relu, MaxPool, Conv 8→16 3×3, Relu, GlobalAveragePool, Flatten, Gemm 16→10.</summary>
    private static ModelProto ConvNet()
    {
        var rng = new SplitMix64(4);
        return new GraphBuilder("convnet")
            .Input("image", F32, "batch", 1, 16, 16).Output("logits", F32, "batch", 10)
            .Weight("conv1.weight", [8, 1, 3, 3], Dense(rng, 9, 8)).Weight("conv1.bias", [8], rng.Symmetric(8, 0.1f))
            .Weight("conv2.weight", [16, 8, 3, 3], Dense(rng, 72, 16)).Weight("conv2.bias", [16], rng.Symmetric(16, 0.1f))
            .Weight("fc.weight", [10, 16], Dense(rng, 16, 10)).Weight("fc.bias", [10], rng.Symmetric(10, 0.1f))
            .Node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1))
            .Node("Relu", ["c1"], ["r1"])
            .Node("MaxPool", ["r1"], ["p1"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2))
            .Node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1))
            .Node("Relu", ["c2"], ["r2"])
            .Node("GlobalAveragePool", ["r2"], ["gap"])
            .Node("Flatten", ["gap"], ["flat"], Int("axis", 1))
            .Node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], Int("transB", 1))
            .Build(doc: "Small ConvNet on 16x16 single-channel images, 10 classes");
    }

    /// <summary>One 64×64 weight used by two MatMuls in a row.</summary>
    private static ModelProto SharedWeight()
    {
        var rng = new SplitMix64(5);
        return new GraphBuilder("shared_weight")
            .Input("x", F32, "batch", 64).Output("y", F32, "batch", 64)
            .Weight("shared.weight", [64, 64], Dense(rng, 64, 64))
            .Node("MatMul", ["x", "shared.weight"], ["h"]).Node("Relu", ["h"], ["hr"])
            .Node("MatMul", ["hr", "shared.weight"], ["y"])
            .Build(doc: "The same weight initializer feeds two MatMuls");
    }

    /// <summary>Weights held by Constant nodes: a tensor value, value_floats for the bias, value_float for a scale.</summary>
    private static ModelProto ConstantWeights()
    {
        var rng = new SplitMix64(6);
        return new GraphBuilder("constant_weights")
            .Input("x", F32, "batch", 64).Output("y", F32, "batch", 32)
            .Node("Constant", [], ["fc.weight"], Tensor("value", TensorFactory.Float32("fc.weight", [64, 32], Dense(rng, 64, 32))))
            .Node("Constant", [], ["fc.bias"], Floats("value_floats", rng.Symmetric(32, 0.1f)))
            .Node("Constant", [], ["out.scale"], Float("value_float", 0.5f))
            .Node("MatMul", ["x", "fc.weight"], ["h"]).Node("Add", ["h", "fc.bias"], ["hb"])
            .Node("Mul", ["hb", "out.scale"], ["y"])
            .Build(doc: "MatMul whose weight is a Constant node, bias from value_floats, scale from value_float");
    }

    /// <summary>64 → 128 → 16 MLP saved with its weights in model.onnx.data.</summary>
    private static ModelProto ExternalDataMlp()
    {
        var rng = new SplitMix64(7);
        return new GraphBuilder("external_data_mlp")
            .Input("x", F32, "batch", 64).Output("y", F32, "batch", 16)
            .Weight("fc1.weight", [64, 128], Dense(rng, 64, 128)).Weight("fc1.bias", [128], rng.Symmetric(128, 0.1f))
            .Weight("fc2.weight", [128, 16], Dense(rng, 128, 16)).Weight("fc2.bias", [16], rng.Symmetric(16, 0.1f))
            .Node("MatMul", ["x", "fc1.weight"], ["h"]).Node("Add", ["h", "fc1.bias"], ["hb"]).Node("Relu", ["hb"], ["hr"])
            .Node("MatMul", ["hr", "fc2.weight"], ["o"]).Node("Add", ["o", "fc2.bias"], ["y"])
            .Build(doc: "MLP 64-128-16 whose tensors over 1 KiB are stored in model.onnx.data");
    }
}
