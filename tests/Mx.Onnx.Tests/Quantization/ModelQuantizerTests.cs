using System.Text.Json;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ort;
using Mx.Tests.Common;
using static Mx.Onnx.Tests.Quantization.QuantizeHarness;

namespace Mx.Onnx.Tests.Quantization;

public class ModelQuantizerTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "mx-quant-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    public static IEnumerable<TestCaseData> Models()
    {
        foreach (string m in new[] { "mlp_outliers.onnx", "transformer_block.onnx", "gemm_transb_bias.onnx", "convnet.onnx", "shared_weight.onnx", "constant_weights.onnx", "external_data/model.onnx" })
            yield return new TestCaseData("testmodels", m).SetArgDisplayNames("testmodels/" + m);
        foreach (string m in new[] { "squeezenet1.1", "stories260K", "mnist", "silero-vad", "ppocr-cls", "magika", "ultraface" })
            yield return new TestCaseData("shared", m).SetArgDisplayNames("shared/" + m);
    }

    private static string Resolve(string where, string name) =>
        where == "testmodels" ? TestPaths.TestModel(name) : TestPaths.Shared("models", name, "model.onnx");

    /// <summary>
    /// The fake output equals ORT's float32 run of the original model with its weights dequantized independently by
    /// the formats library; the packed output agrees with it to float32 rounding, keeps the I/O, and is smaller.
    /// </summary>
    [TestCaseSource(nameof(Models))]
    public void PackedAndFakeMatchAnIndependentReference(string where, string name)
    {
        string input = Resolve(where, name);
        var options = new QuantizationOptions { MinElements = 256 };
        var (fakePath, fake) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Fake }, "fake");
        var (packedPath, packed) = QuantizeFile(input, _dir, options, "packed");
        Assert.That(fake.Tensors, Is.Not.Empty, "nothing was quantized");
        Assert.That(packed.Tensors.Select(t => t.Name), Is.EqualTo(fake.Tensors.Select(t => t.Name)));

        // Independent reference: the original proto with each recorded weight quantized and dequantized by MxQuantizer.
        using var original = OnnxModel.Load(input);
        var reference = ModelProto.Parser.ParseFrom(original.ToBytes());
        var constants = AllConstants(original.Proto);
        foreach (var t in fake.Tensors)
        {
            float[] values = original.ReadFloat32(constants[t.Name]);
            var q = MxQuantizer.Quantize(values, t.BlockShape, new MxQuantizeOptions(t.Settings.Format)
            {
                BlockSize = t.Settings.BlockSize, Axis = t.Axis, ScaleMode = t.Settings.ScaleMode, Rounding = t.Settings.Rounding,
            });
            ReplaceWeight(reference, t.Name, MxQuantizer.Dequantize(q));
        }

        using var originalSession = Session(input, mxOps: false);
        using var referenceSession = Session(reference, mxOps: false);
        using var fakeSession = Session(fakePath);
        using var packedSession = Session(packedPath);
        foreach (var s in new[] { fakeSession, packedSession })
        {
            Assert.That(s.Inputs.Select(i => (i.Name, i.ElementType, string.Join(",", i.Shape))), Is.EqualTo(originalSession.Inputs.Select(i => (i.Name, i.ElementType, string.Join(",", i.Shape)))));
            Assert.That(s.Outputs.Select(i => (i.Name, i.ElementType, string.Join(",", i.Shape))), Is.EqualTo(originalSession.Outputs.Select(i => (i.Name, i.ElementType, string.Join(",", i.Shape)))));
        }
        var inputs = Inputs(originalSession);
        var expected = Run(referenceSession, inputs);
        var fakeOut = Run(fakeSession, inputs);
        var packedOut = Run(packedSession, inputs);
        Assert.That(RelativeDifference(fakeOut, expected), Is.LessThanOrEqualTo(1e-6), "fake vs independent reference");
        Assert.That(RelativeDifference(packedOut, fakeOut), Is.LessThanOrEqualTo(2e-4), "packed vs fake");

        // The file shrinks by what the weights lost: every quantized weight is gone, its packed bytes are in.
        long Size(string p) => new FileInfo(p).Length + (File.Exists(p + ".data") ? new FileInfo(p + ".data").Length : 0);
        long expectedSize = Size(fakePath) - packed.BytesBefore + packed.BytesAfter;
        Assert.That(Size(packedPath), Is.EqualTo(expectedSize).Within(2048 + 1024 * packed.Tensors.Count));
        foreach (var t in packed.Tensors)
        {
            var layout = new MxPackedLayout(t.Settings.Format, t.BlockShape, t.Axis, t.Settings.BlockSize);
            Assert.That(t.BytesAfter, Is.InRange(layout.ElementBytes + layout.ScaleBytes, layout.ElementBytes + layout.ScaleBytes + 64), t.Name);
        }
    }

    /// <summary>The metadata contract: packed initializers viewed with the recorded layout decode to the fake model's weights.</summary>
    [TestCase("transformer_block.onnx")]
    [TestCase("convnet.onnx")]
    [TestCase("gemm_transb_bias.onnx")]
    [TestCase("constant_weights.onnx")]
    public void PackedMetadataDescribesTheInitializers(string name)
    {
        string input = TestPaths.TestModel(name);
        var options = new QuantizationOptions { MinElements = 0, Format = MxFormats.Mx6 };
        var (fakePath, _) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Fake }, "fake");
        var (packedPath, _) = QuantizeFile(input, _dir, options with { Format = MxFormats.Mx6 }, "packed");
        var packed = ModelProto.Parser.ParseFrom(File.ReadAllBytes(packedPath));
        var fakeConstants = AllConstants(ModelProto.Parser.ParseFrom(File.ReadAllBytes(fakePath)));
        var constants = AllConstants(packed);
        Assert.That(packed.MetadataProps.Single(p => p.Key == QuantizationMetadata.ToolKey).Value, Does.StartWith("mx "));
        Assert.That(packed.OpsetImport.Any(o => o.Domain == "mx.onnx" && o.Version == 1));
        using var json = Metadata(packed);
        var root = json.RootElement;
        Assert.That(root.GetProperty("emit").GetString(), Is.EqualTo("packed"));
        Assert.That(root.GetProperty("act_format").ValueKind, Is.EqualTo(JsonValueKind.Null));
        var tensors = root.GetProperty("tensors").EnumerateArray().ToList();
        Assert.That(tensors, Is.Not.Empty);
        foreach (var t in tensors)
        {
            string tensorName = t.GetProperty("name").GetString()!;
            Assert.That(constants.ContainsKey(tensorName), Is.False, $"{tensorName}: the float32 weight is still in the packed model");
            byte[] Bytes(string key) => t.GetProperty(key).GetString() is { } n ? constants[n].RawData.ToByteArray() : [];
            var view = MxPackedTensor.View(MxFormats.Parse(t.GetProperty("format").GetString()!),
                t.GetProperty("block_shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(), t.GetProperty("axis").GetInt32(),
                t.GetProperty("block_size").GetInt32(), Bytes("elements"), Bytes("scales"), Bytes("micro"));
            float[] decoded = MxQuantizer.Dequantize(view);
            float[] fakeWeights = MemoryMarshalFloats(fakeConstants[tensorName].RawData.ToByteArray());
            Assert.That(decoded, Is.EqualTo(fakeWeights), tensorName);
            Assert.That(t.GetProperty("bytes_before").GetInt64(), Is.EqualTo(fakeWeights.Length * 4L));
        }
    }

    private static float[] MemoryMarshalFloats(byte[] b)
    {
        var f = new float[b.Length / 4];
        Buffer.BlockCopy(b, 0, f, 0, b.Length);
        return f;
    }

    /// <summary>MXINT8 and MXFP8 as blocked DequantizeLinear run in stock ORT (no MX ops) and match the fake form.</summary>
    [TestCase("testmodels", "mlp_outliers.onnx", "mxint8")]
    [TestCase("testmodels", "transformer_block.onnx", "mxfp8_e4m3")]
    [TestCase("testmodels", "gemm_transb_bias.onnx", "mxfp8_e5m2")]
    [TestCase("testmodels", "convnet.onnx", "mxint8")]
    [TestCase("testmodels", "mlp_outliers.onnx", "mxint4")]
    [TestCase("shared", "squeezenet1.1", "mxfp8_e4m3")]
    [TestCase("shared", "mnist", "mxint8")]
    [TestCase("shared", "ppocr-cls", "mxint8")]
    [TestCase("shared", "stories260K", "mxint8")]
    public void QdqRunsInStockOrtAndMatchesFake(string where, string name, string format)
    {
        string input = Resolve(where, name);
        var options = new QuantizationOptions { Format = MxFormats.Parse(format), MinElements = 256 };
        var (qdqPath, qdq) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Qdq }, "qdq");
        var (fakePath, _) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Fake }, "fake");
        Assert.That(qdq.Tensors, Is.Not.Empty);
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(qdqPath));
        Assert.That(proto.OpsetImport.Any(o => o.Domain is "mx.onnx"), Is.False, "qdq must be standard ONNX only");
        Assert.That(proto.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version, Is.GreaterThanOrEqualTo(21));
        using var qdqSession = Session(qdqPath, mxOps: false);
        using var fakeSession = Session(fakePath, mxOps: false);
        var inputs = Inputs(fakeSession);
        Assert.That(RelativeDifference(Run(qdqSession, inputs), Run(fakeSession, inputs)), Is.LessThanOrEqualTo(1e-5));
    }

    /// <summary>MXFP4 QDQ is written with FLOAT4E2M1 data and FLOAT8E8M0 scales; ORT 1.30's CPU provider refuses it.</summary>
    [Test]
    public void QdqMxfp4IsWrittenAndOrtRefusesIt()
    {
        var (path, result) = QuantizeFile(TestPaths.TestModel("mlp_outliers.onnx"), _dir, new QuantizationOptions { Emit = EmitForm.Qdq }, "qdq4");
        Assert.That(result.Notes, Has.Some.Contains("cannot run it"));
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var constants = AllConstants(proto);
        foreach (var t in result.Tensors)
        {
            Assert.That((TensorElementType)constants[t.Elements].DataType, Is.EqualTo(TensorElementType.Float4E2M1));
            Assert.That((TensorElementType)constants[t.Scales!].DataType, Is.EqualTo(TensorElementType.Float8E8M0));
        }
        Assert.That(proto.OpsetImport.Single(o => o.Domain is "").Version, Is.EqualTo(24));
        var ex = Assert.Throws<OrtException>(() => Session(path, mxOps: false).Dispose());
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That(ex.Message, Does.Contain("DequantizeLinear").Or.Contain("type").Or.Contain("opset"));
    }

    [Test]
    public void QdqOfAFormatOnnxCannotExpressIsAClearError()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var ex = Assert.Throws<NotSupportedException>(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.Qdq, Format = MxFormats.Mxfp6E3M2 })));
        Assert.That(ex!.Message, Does.Contain("mxfp6_e3m2").And.Contain("fc1.weight"));
    }

    [Test]
    public void ASharedWeightIsPackedOnce()
    {
        var (path, result) = QuantizeFile(TestPaths.TestModel("shared_weight.onnx"), _dir, new QuantizationOptions(), "shared");
        var record = result.Tensors.Single();
        Assert.That(record.Name, Is.EqualTo("shared.weight"));
        Assert.That(record.Nodes, Has.Count.EqualTo(2));
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.That(proto.Graph.Initializer.Count(t => t.Name.StartsWith("shared.weight", StringComparison.Ordinal)), Is.EqualTo(2)); // elements + scales
        Assert.That(proto.Graph.Node.Where(n => n.OpType == "MxMatMul").Select(n => n.Input[1]).Distinct().Count(), Is.EqualTo(1));
    }

    [Test]
    public void SkipReasonsAreRecorded()
    {
        string mlp = TestPaths.TestModel("mlp_outliers.onnx");
        using (var model = OnnxModel.Load(mlp))
        {
            var r = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Exclude = [new("^fc1")] }));
            Assert.That(r.Skipped.Single(s => s.Name == "fc1.weight").Reason, Does.Contain("excluded"));
            Assert.That(r.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "fc2.weight" }));
        }
        using (var model = OnnxModel.Load(mlp))
        {
            var r = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { MinElements = 1 << 20 }));
            Assert.That(r.Tensors, Is.Empty);
            Assert.That(r.Skipped.Select(s => s.Reason), Has.All.Contains("below the minimum"));
        }
        using (var model = OnnxModel.Load(TestPaths.TestModel("convnet.onnx")))
        {
            var r = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Ops = new HashSet<string> { "Conv" }, MinElements = 0 }));
            Assert.That(r.Tensors.Select(t => t.Op), Has.All.EqualTo("Conv"));
            Assert.That(r.Skipped.Where(s => s.Op == "Gemm").Select(s => s.Reason), Has.Some.Contains("not in the op list"));
        }
        // A per-tensor override (the recipe mechanism) wins over the default format and the minimum size.
        using (var model = OnnxModel.Load(mlp))
        {
            var plan = new QuantizationPlan(new QuantizationOptions { MinElements = 1 << 20 })
                .WithOverrides([new("fc2.weight", new TensorSettings(MxFormats.Mxint8, 32, MxScaleMode.Floor, MxRounding.NearestEven))]);
            var r = ModelQuantizer.Quantize(model, plan);
            Assert.That(r.Tensors.Single().Settings.Format, Is.EqualTo(MxFormats.Mxint8));
        }
    }

    [Test]
    public void NonWeightUsesAreSkippedWithTheirReason()
    {
        // stories260K: rotary tables and norms are not weight inputs; the embedding Gather is.
        string input = TestPaths.Shared("models", "stories260K", "model.onnx");
        using var model = OnnxModel.Load(input);
        var r = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { MinElements = 0 }));
        TestContext.Out.WriteLine(string.Join("\n", r.Skipped.Select(s => $"{s.Name} {s.Op}: {s.Reason}")));
        Assert.That(r.Tensors.Select(t => t.Op).Distinct(), Is.EquivalentTo(new[] { "MatMul", "Gather" }).Or.EquivalentTo(new[] { "MatMul" }));
        Assert.That(r.Skipped, Is.Not.Empty);
        Assert.That(r.Skipped.Select(s => s.Reason), Has.All.Not.Empty);
    }

    [Test]
    public void AnAlreadyQuantizedModelIsRefusedUnlessForced()
    {
        var (path, _) = QuantizeFile(TestPaths.TestModel("mlp_outliers.onnx"), _dir, new QuantizationOptions(), "once");
        using (var model = OnnxModel.Load(path))
        {
            var ex = Assert.Throws<QuantizationException>(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions())));
            Assert.That(ex!.Message, Does.Contain("already quantized").And.Contain("MxMatMul"));
        }
        using (var model = OnnxModel.Load(path))
        {
            var r = ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { Force = true }));
            Assert.That(r.Tensors, Is.Empty); // nothing float is left to quantize; the packed weights are untouched
        }
    }

    /// <summary>Weights inside If branches (their own and the outer graph's) are quantized and the model still runs.</summary>
    [Test]
    public void SubgraphWeightsAreQuantized()
    {
        string input = Path.Combine(_dir, "if.onnx");
        File.WriteAllBytes(input, Google.Protobuf.MessageExtensions.ToByteArray(SyntheticModels.IfWithWeights()));
        var options = new QuantizationOptions { MinElements = 0 };
        var (fakePath, fake) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Fake }, "fake");
        var (packedPath, packed) = QuantizeFile(input, _dir, options, "packed");
        Assert.That(packed.Tensors.Select(t => t.Name), Is.EquivalentTo(new[] { "W_then", "W_outer" }));
        using var fakeSession = Session(fakePath);
        using var packedSession = Session(packedPath);
        foreach (bool cond in new[] { true, false })
        {
            var inputs = Inputs(fakeSession);
            inputs["cond"] = new HostTensor(TensorElementType.Bool, [], [(byte)(cond ? 1 : 0)]);
            Assert.That(RelativeDifference(Run(packedSession, inputs), Run(fakeSession, inputs)), Is.LessThanOrEqualTo(2e-4));
        }
    }

    [Test]
    public void ActivationFormatQuantizesActivations()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx");
        var options = new QuantizationOptions { Format = MxFormats.Mxint8, ActFormat = MxFormats.Mxint8 };
        var (packedPath, _) = QuantizeFile(input, _dir, options, "packed");
        var (fakePath, _) = QuantizeFile(input, _dir, options with { Emit = EmitForm.Fake }, "fake");
        var packed = ModelProto.Parser.ParseFrom(File.ReadAllBytes(packedPath));
        Assert.That(packed.Graph.Node.Where(n => n.OpType == "MxMatMul").Select(n => n.Attribute.Single(a => a.Name == "act_format").S.ToStringUtf8()), Has.All.EqualTo("mxint8"));
        var fake = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fakePath));
        Assert.That(fake.Graph.Node.Count(n => n.OpType == "MxQuantizeDequantize"), Is.EqualTo(2));
        using var packedSession = Session(packedPath);
        using var fakeSession = Session(fakePath);
        var inputs = Inputs(fakeSession);
        Assert.That(RelativeDifference(Run(packedSession, inputs), Run(fakeSession, inputs)), Is.LessThanOrEqualTo(2e-4));

        // A format the MxMatMul kernel does not take inside gets an MxQuantizeDequantize in front.
        var (fp8Path, _) = QuantizeFile(input, _dir, options with { ActFormat = MxFormats.Mxfp8E4M3 }, "fp8act");
        var fp8 = ModelProto.Parser.ParseFrom(File.ReadAllBytes(fp8Path));
        Assert.That(fp8.Graph.Node.Count(n => n.OpType == "MxQuantizeDequantize"), Is.EqualTo(2));
        using (Session(fp8Path)) { }

        using var model = OnnxModel.Load(input);
        var ex = Assert.Throws<QuantizationException>(() => ModelQuantizer.Quantize(model, new QuantizationPlan(options with { Emit = EmitForm.Qdq })));
        Assert.That(ex!.Message, Does.Contain("act-format"));
    }

    [Test]
    public void InputFilesAreNotModified()
    {
        string input = TestPaths.TestModel("external_data/model.onnx");
        byte[] model = File.ReadAllBytes(input), data = File.ReadAllBytes(input + ".data");
        QuantizeFile(input, _dir, new QuantizationOptions { MinElements = 0 }, "q");
        Assert.That(File.ReadAllBytes(input), Is.EqualTo(model));
        Assert.That(File.ReadAllBytes(input + ".data"), Is.EqualTo(data));
    }
}
