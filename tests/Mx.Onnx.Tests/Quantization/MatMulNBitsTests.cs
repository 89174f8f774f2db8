using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.TestModels;

namespace Mx.Onnx.Tests.Quantization;

/// <summary>
/// The MatMulNBits emit form: the block quantizer's rules, and the rewritten model in ONNX Runtime against ORT's own
/// MatMul and Gemm on the weights the test decodes from the written bytes (MatMulNBits' documented layout).
/// </summary>
public class MatMulNBitsTests
{
    private const int K = 100, N = 40, Vocab = 16;   // K: three whole blocks of 32 and a partial one

    /// <summary>X [3, K] → MatMul(X, W1 [K, N]); Gemm(X, W2 [N, K], C) transB, α = 0.5, β = 2; Gather(E [V, K], ids).</summary>
    private static ModelProto Model()
    {
        var rng = new SplitMix64(11);
        return new GraphBuilder("nbits")
            .Input("X", TensorElementType.Float, 3, K).Input("ids", TensorElementType.Int64, 2)
            .Output("Y1", TensorElementType.Float, 3, N).Output("Y2", TensorElementType.Float, 3, N).Output("Y3", TensorElementType.Float, 2, K)
            .Weight("W1", [K, N], rng.Symmetric(K * N, 0.2f)).Weight("W2", [N, K], rng.Symmetric(K * N, 0.1f))
            .Weight("C", [N], rng.Symmetric(N, 1f)).Weight("E", [Vocab, K], rng.Symmetric(Vocab * K, 1f))
            .Node("MatMul", ["X", "W1"], ["Y1"])
            .Node("Gemm", ["X", "W2", "C"], ["Y2"], GraphBuilder.Float("alpha", 0.5f), GraphBuilder.Float("beta", 2f), GraphBuilder.Int("transB", 1))
            .Node("Gather", ["E", "ids"], ["Y3"])
            .Build();
    }

    private static IEnumerable<TestCaseData> Settings()
    {
        foreach (int level in new[] { 0, 4 })
            foreach (bool zp in new[] { false, true })
                yield return new TestCaseData(level, zp).SetName($"AccuracyLevel{level}_{(zp ? "ZeroPoints" : "Symmetric")}");
    }

    [TestCaseSource(nameof(Settings))]
    public void Outputs_MatchOrtsMatMulAndGemmOnTheDequantizedWeights(int accuracyLevel, bool zeroPoints)
    {
        var proto = Model();
        using var model = OnnxModel.FromProto(proto.Clone());
        var options = new QuantizationOptions { Emit = EmitForm.MatMulNBits, MatMulNBits = new MatMulNBitsOptions { AccuracyLevel = accuracyLevel, ZeroPoints = zeroPoints } };
        var result = ModelQuantizer.Quantize(model, new QuantizationPlan(options));

        Assert.That(model.Proto.Graph.Node.Count(n => n.OpType == "MatMulNBits" && n.Domain == "com.microsoft"), Is.EqualTo(2));
        Assert.That(result.Skipped.Single(s => s.Name == "E").Reason, Does.Contain("MatMulNBits replaces MatMul and Gemm only"));
        var nbits = model.Proto.Graph.Node.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.That(nbits.All(n => Attr(n, "bits") == 4 && Attr(n, "block_size") == 32 && Attr(n, "accuracy_level") == accuracyLevel && Attr(n, "K") == K && Attr(n, "N") == N));
        Assert.That(nbits.All(n => n.Input.Count == (zeroPoints ? 4 : 3)));

        // The reference: the original graph, its weights replaced by what the written bytes decode to.
        var reference = proto.Clone();
        Replace(reference, "W1", Transpose(Decode(model, nbits[0]), N, K), [K, N]);
        // α was folded into the Gemm's scales: divide it out again for a Gemm that keeps α = 0.5.
        Replace(reference, "W2", Decode(model, nbits[1]).Select(v => v / 0.5f).ToArray(), [N, K]);
        var inputs = new Dictionary<string, HostTensor>
        {
            ["X"] = HostTensor.FromFloats(new SplitMix64(5).Symmetric(3 * K, 1f), 3, K),
            ["ids"] = new HostTensor(TensorElementType.Int64, [2], System.Runtime.InteropServices.MemoryMarshal.AsBytes(new long[] { 3, 15 }.AsSpan()).ToArray()),
        };
        using var quantized = QuantizeHarness.Session(model.Proto);
        using var expected = QuantizeHarness.Session(reference);
        var got = quantized.Run(inputs);
        var want = expected.Run(inputs);
        // accuracy_level 4 quantizes the activations to int8 per block inside the op: about 1% relative error.
        double tolerance = accuracyLevel == 4 ? 2e-2 : 1e-5;
        foreach (string y in new[] { "Y1", "Y2" })
            Assert.That(RelativeError(got[y].AsSpan<float>(), want[y].AsSpan<float>()), Is.LessThan(tolerance), y);
        Assert.That(got["Y3"].AsSpan<float>().ToArray(), Is.EqualTo(want["Y3"].AsSpan<float>().ToArray()), "the embedding stays float32");
    }

    [Test]
    public void Symmetric_KeepsTheLargestMagnitudeExact_AndRoundsToTheNearestCode()
    {
        var rng = new SplitMix64(3);
        var w = rng.Symmetric(4 * 70, 2f);
        w[37] = -9f;   // row 0, block 1: its extreme, negative
        var q = MatMulNBitsPacker.Pack(w, 70, 32, zeroPoints: false);
        Assert.That(q.ZeroPoints, Is.Null);
        Assert.That(q.Value(0, 37), Is.EqualTo(-9f));
        for (int n = 0; n < 4; n++)
            for (int b = 0; b < 3; b++)
            {
                float scale = q.Scales[n * 3 + b];
                var block = Enumerable.Range(b * 32, Math.Min(32, 70 - b * 32)).ToList();
                float extreme = block.Select(k => w[n * 70 + k]).MaxBy(Math.Abs);
                Assert.That(scale, Is.EqualTo(extreme / -8f), $"row {n} block {b}");
                foreach (int k in block)
                {
                    // The nearest of the 16 levels (code − 8)·scale, by brute force.
                    float best = Enumerable.Range(0, 16).Select(c => (c - 8) * scale).MinBy(v => Math.Abs(v - w[n * 70 + k]));
                    Assert.That(Math.Abs(q.Value(n, k) - w[n * 70 + k]), Is.LessThanOrEqualTo(Math.Abs(best - w[n * 70 + k]) + 1e-6f), $"row {n} k {k}");
                }
            }
        // The padding past K decodes to 0.
        int padCode = (q.Codes[(2 * 16) + (70 - 64) / 2] >> 4) & 0xF;   // row 0, block 2, element 71
        Assert.That(padCode, Is.EqualTo(8));
    }

    [Test]
    public void ZeroPoints_KeepZeroExact_AndStayWithinHalfAStep()
    {
        var w = new float[64];
        for (int i = 0; i < 64; i++) w[i] = i < 32 ? 0.1f + i * 0.05f : -3f + i * 0.01f;   // block 0 all positive, block 1 all negative
        w[5] = 0;
        var q = MatMulNBitsPacker.Pack(w, 64, 32, zeroPoints: true);
        Assert.That(q.ZeroPoints, Has.Length.EqualTo(1));
        Assert.That(q.Value(0, 5), Is.EqualTo(0f));
        Assert.That(q.ZeroPoint(0, 0), Is.Zero, "range [0, hi]");
        Assert.That(q.ZeroPoint(0, 1), Is.EqualTo(15), "range [lo, 0]");
        for (int i = 0; i < 64; i++)
            Assert.That(Math.Abs(q.Value(0, i) - w[i]), Is.LessThanOrEqualTo(q.Scales[i / 32] / 2 * 1.0001f), $"element {i}");
        var zeros = MatMulNBitsPacker.Pack(new float[32], 32, 32, zeroPoints: true);
        Assert.That(zeros.Scales[0], Is.Zero);
        Assert.That(zeros.Value(0, 3), Is.Zero);
    }

    [Test]
    public void Metadata_AndReport_DescribeTheMatMulNBitsWeights()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mx-nbits-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string original = Path.Combine(dir, "model.onnx"), output = Path.Combine(dir, "model.nbits.onnx");
            using (var m = OnnxModel.FromProto(Model())) m.Save(original);
            using (var m = OnnxModel.Load(original))
            {
                ModelQuantizer.Quantize(m, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.MatMulNBits, MatMulNBits = new MatMulNBitsOptions { ZeroPoints = true } }));
                m.Save(output);
            }
            using var quantized = OnnxModel.Load(output);
            var meta = QuantizationMetadata.Of(quantized);
            Assert.That((meta.Emit, meta.Format, meta.BlockSize, meta.Scale), Is.EqualTo(("matmulnbits", "int4", 32, "minmax")));
            var w1 = meta.Tensors.Single(t => t.Name == "W1");
            Assert.That(w1.ZeroPoints, Is.Not.Null);
            Assert.That((w1.BlockShape, w1.Axis), Is.EqualTo((new[] { K, N }, 0)));
            var decoded = QuantizedWeightDecoder.Decode(quantized, w1, meta.Emit);
            var node = quantized.Proto.Graph.Node.First(n => n.OpType == "MatMulNBits");
            Assert.That(decoded.Values, Is.EqualTo(Transpose(Decode(quantized, node), N, K)));

            var report = QuantizationReport.Create(original, output, null);
            var t = report.Tensors.Single(r => r.Name == "W1");
            Assert.That(t.SqnrDb, Is.InRange(15, 30), "4-bit blocks of 32: about 20 dB");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void BadSettings_AreRefusedBeforeAnythingChanges()
    {
        using var model = OnnxModel.FromProto(Model());
        string before = model.Proto.ToString();
        Assert.That(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.MatMulNBits, BlockSize = 24 })),
            Throws.TypeOf<QuantizationException>().With.Message.Contains("power of two"));
        Assert.That(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.MatMulNBits, ActFormat = Mx.Runtime.Formats.MxFormats.Mxint8 })),
            Throws.TypeOf<QuantizationException>().With.Message.Contains("--act-format"));
        Assert.That(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.MatMulNBits, MatMulNBits = new MatMulNBitsOptions { AccuracyLevel = 7 } })),
            Throws.TypeOf<QuantizationException>().With.Message.Contains("accuracy_level 7"));
        Assert.That(model.Proto.ToString(), Is.EqualTo(before));
    }

    private static long Attr(NodeProto n, string name) => n.Attribute.Single(a => a.Name == name).I;

    /// <summary>
    /// The [N, K] weights a MatMulNBits node holds, decoded by the op's documented layout: B [N, blocks, 16] with
    /// element 2j of a block in the low nibble of byte j; scales [N, blocks]; zero points [N, ceil(blocks/2)], block 2j
    /// in the low nibble; 8 without them.
    /// </summary>
    private static float[] Decode(OnnxModel model, NodeProto node)
    {
        byte[] b = model.GetTensorBytes(model.FindInitializer(node.Input[1])!).ToArray();
        float[] scales = model.ReadFloat32(model.FindInitializer(node.Input[2])!);
        byte[]? zp = node.Input.Count > 3 ? model.GetTensorBytes(model.FindInitializer(node.Input[3])!).ToArray() : null;
        int blocks = (K + 31) / 32;
        var w = new float[N * K];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
            {
                int block = k / 32, inBlock = k % 32;
                int code = (b[(n * blocks + block) * 16 + inBlock / 2] >> (4 * (inBlock % 2))) & 0xF;
                int zero = zp is null ? 8 : (zp[n * ((blocks + 1) / 2) + block / 2] >> (4 * (block % 2))) & 0xF;
                w[n * K + k] = (code - zero) * scales[n * blocks + block];
            }
        return w;
    }

    private static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
        return t;
    }

    private static void Replace(ModelProto proto, string name, float[] values, long[] shape)
    {
        var list = proto.Graph.Initializer;
        int i = list.ToList().FindIndex(t => t.Name == name);
        list[i] = Mx.Onnx.Tensors.TensorFactory.Float32(name, shape, values);
    }

    private static double RelativeError(ReadOnlySpan<float> got, ReadOnlySpan<float> want)
    {
        double num = 0, den = 0;
        for (int i = 0; i < want.Length; i++)
        {
            num += (got[i] - (double)want[i]) * (got[i] - (double)want[i]);
            den += (double)want[i] * want[i];
        }
        return Math.Sqrt(num / den);
    }
}
