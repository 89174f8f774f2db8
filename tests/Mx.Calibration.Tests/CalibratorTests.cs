using Mx.Calibration.Data;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>End-to-end selection on a test model, checked through the quantizer (an independent path).</summary>
public class CalibratorTests
{
    private static readonly string Block = TestPaths.TestModel("transformer_block.onnx");

    // Packed bytes (elements + scales) written by the quantizer under the recipe, per original weight element.
    private static double PackedBits(OnnxModel model, CalibrationRecipe recipe)
    {
        using var copy = OnnxModel.FromBytes(model.ToBytes());
        var result = ModelQuantizer.Quantize(copy, RecipeApplier.Apply(copy, recipe, new QuantizationPlan(new QuantizationOptions())));
        long bits = result.Tensors.Sum(t => t.BytesAfter * 8)
                    + recipe.Tensors.Where(t => t.Settings is null).Sum(t => copy.FindInitializer(t.Name)!.Dims.Aggregate(1L, (a, b) => a * b) * 32);
        long elements = recipe.Tensors.Sum(t => model.FindInitializer(t.Name)!.Dims.Aggregate(1L, (a, b) => a * b));
        return bits / (double)elements;
    }

    private static ModelComparisonResult Compare(OnnxModel model, OnnxModel candidate, CalibrationSamples samples)
    {
        using var cmp = ModelComparison.FromBytes(model.ToBytes(), candidate.ToBytes());
        return cmp.Compare(samples.Samples);
    }

    [Test]
    public void MaxBitsBudgetIsMetByTheQuantizedModel()
    {
        using var model = OnnxModel.Load(Block);
        var recipe = Calibrator.Calibrate(model, TestModels.Random(model, 3, 1), new CalibrationOptions { Budget = Budget.Bits(5.5) });
        Assert.That(recipe.BudgetMet, Is.True);
        Assert.That(recipe.Tensors, Is.Not.Empty);
        double packed = PackedBits(model, recipe);
        TestContext.Out.WriteLine($"recipe {recipe.AverageBits:0.###} bits, packed model {packed:0.###} bits");
        Assert.That(packed, Is.LessThanOrEqualTo(5.5));
        Assert.That(recipe.AverageBits, Is.EqualTo(packed).Within(1e-9));
    }

    [Test]
    public void AutomaticChoiceIsNoWorseThanUniformMxfp6AtEqualBits()
    {
        using var model = OnnxModel.Load(Block);
        var samples = TestModels.Random(model, 3, 2);
        var mxfp6 = FormatCandidate.Parse("mxfp6_e2m3")[0];
        // The uniform MXFP6 E2M3 bits of these weights (padding included), from the quantizer's own packing.
        using var uniformModel = TestModels.FakeQuantized(model, o => new QuantizationPlan(o with { Format = mxfp6.Settings!.Format }));
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(6.25) });
        double uniformBits = recipe.Uniform.First(u => u.Format == "mxfp6_e2m3").Bits;
        var recipeAtUniform = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(uniformBits) });
        using var auto = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(auto, RecipeApplier.Apply(auto, recipeAtUniform, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.Fake })));
        var u = Compare(model, uniformModel, samples).Outputs[0];
        var a = Compare(model, auto, samples).Outputs[0];
        TestContext.Out.WriteLine($"uniform mxfp6_e2m3 {uniformBits:0.###} bits KL {u.MeanKl:G4} relL2 {u.RelL2Error:G4}; auto {recipeAtUniform.AverageBits:0.###} bits KL {a.MeanKl:G4} relL2 {a.RelL2Error:G4}");
        Assert.That(recipeAtUniform.AverageBits, Is.LessThanOrEqualTo(uniformBits + 1e-12));
        Assert.That(a.MeanKl!.Value, Is.LessThanOrEqualTo(u.MeanKl!.Value * (1 + 1e-9)));
    }

    [Test]
    public void MinSqnrBudgetIsMetOnTheSamples()
    {
        using var model = OnnxModel.Load(Block);
        var samples = TestModels.Random(model, 3, 3);
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Sqnr(25) });
        Assert.That(recipe.BudgetMet, Is.True);
        using var q = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(q, RecipeApplier.Apply(q, recipe, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.Fake })));
        var r = Compare(model, q, samples).Outputs[0];
        double sqnr = -20 * Math.Log10(r.RelL2Error);
        TestContext.Out.WriteLine($"{recipe.AverageBits:0.###} bits, output SQNR {sqnr:0.##} dB");
        Assert.That(sqnr, Is.GreaterThanOrEqualTo(25));
        Assert.That(recipe.AverageBits, Is.LessThan(32), "should not leave everything in float32");
    }

    [Test]
    public void BitsBelowTheCheapestCandidateIsAClearError()
    {
        using var model = OnnxModel.Load(Block);
        var ex = Assert.Throws<ArgumentException>(() => Calibrator.Calibrate(model, TestModels.Random(model, 1, 4), new CalibrationOptions { Budget = Budget.Bits(2) }));
        Assert.That(ex!.Message, Does.Contain("cheapest"));
    }

    [Test]
    public void TestDataSetFoldersAreRead()
    {
        string dir = TestPaths.Shared("models", "squeezenet1.1");
        using var model = OnnxModel.Load(Path.Combine(dir, "model.onnx"));
        var samples = CalibrationSamples.Load(dir, ModelInputs.Of(model));
        Assert.That(samples.Samples, Has.Count.EqualTo(Directory.GetDirectories(dir, "test_data_set_*").Length));
        var expected = Mx.Onnx.Tensors.TensorReader.ToHostTensor(Mx.Onnx.Proto.TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "test_data_set_0", "input_0.pb"))), null);
        Assert.That(samples.Samples[0]["data"].Data, Is.EqualTo(expected.Data));
    }

    [Test]
    public void NpyFolderMissingAFileNamesIt()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        string dir = Directory.CreateTempSubdirectory("mx-calib-").FullName;
        try
        {
            var ex = Assert.Throws<InvalidDataException>(() => CalibrationSamples.Load(dir, ModelInputs.Of(model)));
            Assert.That(ex!.Message, Does.Contain(".npy"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void ReaderAdapterStreamsEverySample()
    {
        var items = Enumerable.Range(0, 3).Select(i => (IReadOnlyDictionary<string, HostTensor>)new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([i], 1) }).ToList();
        var reader = CalibrationDataReaders.FromEnumerable(items);
        var samples = CalibrationSamples.FromReader(reader, maxSamples: 2);
        Assert.That(samples.Samples.Select(s => s["x"].ToFloatArray()[0]), Is.EqualTo(new[] { 0f, 1f }));
        Assert.That(samples.IsRandom, Is.False);
    }
}
