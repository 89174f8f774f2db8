using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime.Formats;
using Mx.Tests.Common;
using static Mx.Onnx.Tests.Quantization.QuantizeHarness;

namespace Mx.Onnx.Tests.Quantization;

/// <summary>
/// <c>--layout kmajor</c> end to end: the K-major model computes what the row-major one computes (the same codes, only
/// the fp32 summation order differs), in both numerics; the metadata says kmajor and the report decodes it; block
/// pruning zeroes exactly the planned tiles, stores only the others (a smaller file) and the model computes the
/// product of the pruned weights.
/// </summary>
public class KMajorQuantizeTests
{
    private string _dir = "";

    [SetUp]
    public void Folder() => _dir = Directory.CreateTempSubdirectory("mx-kmajor-").FullName;

    [TearDown]
    public void Clean() => Directory.Delete(_dir, true);

    [TestCase("transformer_block.onnx", "mxfp4_e2m1", null)]
    [TestCase("transformer_block.onnx", "mxfp4_e2m1", "mxint8")]
    [TestCase("mlp_outliers.onnx", "mxint8", "mxint8")]
    [TestCase("mlp_outliers.onnx", "mxint4", null)]
    [TestCase("gemm_transb_bias.onnx", "mxfp4_e2m1", "mxint8")]
    public void KMajorComputesWhatRowMajorComputes(string file, string format, string? act)
    {
        var f = MxFormats.Parse(format);
        var actFormat = act == null ? null : MxFormats.Parse(act);
        var (rowPath, _) = QuantizeFile(TestPaths.TestModel(file), _dir, new QuantizationOptions { Format = f, ActFormat = actFormat, Ops = new HashSet<string> { "MatMul", "Gemm" } }, "row");
        var (kPath, result) = QuantizeFile(TestPaths.TestModel(file), _dir, new QuantizationOptions { Format = f, ActFormat = actFormat, Storage = WeightStorage.KMajor, Ops = new HashSet<string> { "MatMul", "Gemm" } }, "kmajor");
        Assert.That(result.Tensors, Is.Not.Empty);
        Assert.That(result.Tensors.All(t => t.Layout == "kmajor"), Is.True, string.Join("; ", result.Tensors.SelectMany(t => t.Notes)));
        using var row = Session(rowPath);
        using var kmajor = Session(kPath);
        var inputs = Inputs(row);
        Assert.That(RelativeDifference(Run(kmajor, inputs), Run(row, inputs)), Is.LessThan(1e-5));

        using var rowModel = OnnxModel.Load(rowPath);
        using var kModel = OnnxModel.Load(kPath);
        var rowMeta = QuantizationMetadata.Of(rowModel);
        var kMeta = QuantizationMetadata.Of(kModel);
        foreach (var entry in kMeta.Tensors)
        {
            Assert.That(entry.Layout, Is.EqualTo("kmajor"));
            var a = QuantizedWeightDecoder.Decode(kModel, entry, "packed").Values;
            var b = QuantizedWeightDecoder.Decode(rowModel, rowMeta.Tensors.Single(t => t.Name == entry.Name), "packed").Values;
            Assert.That(a, Is.EqualTo(b).AsCollection, $"{entry.Name}: the same weights in either layout");
        }
    }

    [Test]
    public void WeightsTheLayoutCannotHoldStayRowMajorWithANote()
    {
        var (_, result) = QuantizeFile(TestPaths.TestModel("transformer_block.onnx"), _dir,
            new QuantizationOptions { Format = MxFormats.Parse("mxfp8_e4m3"), Storage = WeightStorage.KMajor, Ops = new HashSet<string> { "MatMul" } }, "fp8");
        Assert.That(result.Tensors.All(t => t.Layout == "rowmajor"), Is.True);
        Assert.That(result.Tensors[0].Notes, Has.Some.Contains("stored row-major, not K-major"));
    }

    [Test]
    public void PruningZeroesThePlannedTilesAndStoresOnlyTheOthers()
    {
        string file = TestPaths.TestModel("mlp_outliers.onnx");
        var options = new QuantizationOptions { Format = MxFormats.Mxfp4E2M1, Storage = WeightStorage.KMajor, Ops = new HashSet<string> { "MatMul" } };
        var (densePath, _) = QuantizeFile(file, _dir, options, "dense");
        var (prunedPath, result) = QuantizeFile(file, _dir, options with { PruneBlocks = 0.3 }, "pruned");
        Assert.That(new FileInfo(prunedPath).Length, Is.LessThan(new FileInfo(densePath).Length * 0.8));
        foreach (var t in result.Tensors)
        {
            Assert.That(t.Mask, Is.Not.Null, t.Name);
            Assert.That(t.Notes, Has.Some.Contains("pruned"), t.Name);
        }
        using var pruned = OnnxModel.Load(prunedPath);
        var meta = QuantizationMetadata.Of(pruned);
        using var fp32 = OnnxModel.Load(file);
        foreach (var entry in meta.Tensors)
        {
            // Exactly floor(0.3 · units) (K-block × 16-row) tiles are zero in the decoded weight ([K, N] MatMul weight).
            float[] w = QuantizedWeightDecoder.Decode(pruned, entry, "packed").Values;
            int k = entry.BlockShape[0], n = entry.BlockShape[1], blocks = (k + 31) / 32, tiles = (n + 15) / 16, zero = 0;
            for (int j = 0; j < blocks; j++)
                for (int t = 0; t < tiles; t++)
                {
                    bool all = true;
                    for (int kk = j * 32; kk < Math.Min(k, j * 32 + 32) && all; kk++)
                        for (int nn = t * 16; nn < Math.Min(n, t * 16 + 16) && all; nn++) all = w[kk * n + nn] == 0;
                    if (all) zero++;
                }
            Assert.That(zero, Is.EqualTo((int)Math.Floor(0.3 * blocks * tiles)), entry.Name);
            // The model computes the product of exactly these weights: compare with the float model holding them.
            ReplaceWeight(fp32.Proto, entry.Name, w);
        }
        using var packed = Session(prunedPath);
        using var reference = Session(fp32.Proto, mxOps: false);
        var inputs = Inputs(packed);
        Assert.That(RelativeDifference(Run(packed, inputs), Run(reference, inputs)), Is.LessThan(1e-5));
    }

    [Test]
    public void InputSecondMomentsDecideWhichTilesArePruned()
    {
        // fc1.weight is [128, 256]: K-blocks of 32 input rows. Huge E[x²] on K-block 0 keeps all of its tiles.
        var moments = new double[128];
        for (int k = 0; k < 128; k++) moments[k] = k < 32 ? 1e6 : 1;
        string file = TestPaths.TestModel("mlp_outliers.onnx");
        var options = new QuantizationOptions { Format = MxFormats.Mxfp4E2M1, Storage = WeightStorage.KMajor, Ops = new HashSet<string> { "MatMul" }, PruneBlocks = 0.7 };
        using var model = OnnxModel.Load(file);
        var result = ModelQuantizer.Quantize(model, new QuantizationPlan(options).WithInputSecondMoments(new Dictionary<string, double[]> { ["fc1.weight"] = moments }));
        Assert.That(result.Tensors.Single(t => t.Name == "fc1.weight").Notes, Has.Some.Contains("E[x²] (calibration)"));
        var entry = QuantizationMetadata.Of(model).Tensors.Single(t => t.Name == "fc1.weight");
        float[] w = QuantizedWeightDecoder.Decode(model, entry, "packed").Values;
        for (int t = 0; t < 16; t++)
        {
            bool zero = true;
            for (int k = 0; k < 32 && zero; k++)
                for (int n = t * 16; n < t * 16 + 16 && zero; n++) zero = w[k * 256 + n] == 0;
            Assert.That(zero, Is.False, $"tile {t} of K-block 0 was pruned");
        }
    }

    [Test]
    public void PruningNeedsKMajor()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var e = Assert.Throws<QuantizationException>(() => ModelQuantizer.Quantize(model, new QuantizationPlan(new QuantizationOptions { PruneBlocks = 0.2 })))!;
        Assert.That(e.Message, Does.Contain("--layout kmajor"));
    }
}
