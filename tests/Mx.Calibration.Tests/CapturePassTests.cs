using Mx.Calibration.Capture;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>The capture pass through ONNX Runtime: chunking, spilling, external data, determinism; and the run it feeds.</summary>
public class CapturePassTests
{
    private static readonly string Block = TestPaths.TestModel("transformer_block.onnx");

    private static List<LayerInput> InputsOf(OnnxModel model) =>
        WeightFinder.Find(model).Candidates.Where(c => c.Problem is null)
            .SelectMany(c => c.Groups.SelectMany(g => g.Uses.Select(u => LayerInput.Of(u, g.Layout, c.Shape, model.Graph.IsConstant, out _))))
            .OfType<LayerInput>().DistinctBy(i => i.Key).ToList();

    [Test]
    public void ChunkedAndSpilledCaptureEqualsOnePass()
    {
        using var model = OnnxModel.Load(Block);
        var samples = TestModels.Random(model, 3, 1);
        var inputs = InputsOf(model);
        Assert.That(inputs.Count, Is.GreaterThan(3));
        using var whole = CapturePass.Run(model, samples.Samples, inputs, [], new CaptureOptions(), new StatisticsOptions());
        // A budget too small for two layer inputs at once: one pass per value, and the Gram matrices go to disk.
        long one = inputs.Max(i => LayerInputStatistics.EstimateBytes(i, new CaptureOptions()));
        using var chunked = CapturePass.Run(model, samples.Samples, inputs, [], new CaptureOptions { MemoryBytes = one + 1, MaxOutputsPerPass = 1 }, new StatisticsOptions());
        TestContext.Out.WriteLine($"{inputs.Count} inputs: {whole.Passes} pass vs {chunked.Passes} passes, {chunked.SpilledBytes} bytes spilled");
        Assert.That(whole.Passes, Is.EqualTo(1));
        Assert.That(chunked.Passes, Is.GreaterThan(1));
        Assert.That(chunked.SpilledBytes, Is.GreaterThan(0));
        Assert.That(chunked.Inputs.Values.Any(s => s.IsSpilled), Is.True);
        foreach (var (key, s) in whole.Inputs)
        {
            var c = chunked.Inputs[key];
            Assert.That(c.RowsRepresented, Is.EqualTo(s.RowsRepresented), key);
            if (s.Input.Kind != LayerInputKind.Lookup) Assert.That(c.Hessian(), Is.EqualTo(s.Hessian()), key);
        }
        string folder = chunked.SpillFolder!;
        chunked.Dispose();
        Assert.That(Directory.Exists(folder), Is.False, "spilled statistics are deleted with the result");
    }

    [Test]
    public void ExternalDataModelCalibratesLikeItsInlineCopy()
    {
        using var external = OnnxModel.Load(TestPaths.TestModel(Path.Combine("external_data", "model.onnx")));
        Assert.That(external.ExternalData.MappedBytes, Is.GreaterThan(0), "the weights are in the data file");
        using var inline = OnnxModel.FromBytes(external.ToBytes());
        var samples = TestModels.Random(inline, 4, 2);
        var options = new CalibrationOptions { Budget = Budget.Bits(6), Seed = 3 };
        var a = Calibrator.Calibrate(external, samples, options, "m");
        var b = Calibrator.Calibrate(inline, samples, options, "m");
        Assert.That(a.Tensors.Select(t => t.FormatName), Is.EqualTo(b.Tensors.Select(t => t.FormatName)));
        Assert.That(a.Measured.Nsr, Is.EqualTo(b.Measured.Nsr).Within(1e-12));
        Assert.That(a.AverageBits, Is.EqualTo(b.AverageBits));
    }

    [Test]
    public void SameSeedGivesTheSameRecipe()
    {
        using var model = OnnxModel.Load(Block);
        var samples = TestModels.Random(model, 3, 4);
        var options = new CalibrationOptions { Budget = Budget.Bits(5.5), Seed = 9, Capture = new CaptureOptions { MaxRowsPerSample = 8, ReservoirRows = 4 } };
        string Strip(CalibrationRecipe r) => RecipeJson.ToJson(r with { Cost = null });
        Assert.That(Strip(Calibrator.Calibrate(model, samples, options, "m")), Is.EqualTo(Strip(Calibrator.Calibrate(model, samples, options, "m"))));
    }

    [Test]
    public void RunIsLinearInTheLayers()
    {
        using var model = OnnxModel.Load(Block);
        var samples = TestModels.Random(model, 3, 5);
        var stages = new List<CalibrationProgress>();
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(5), Progress = stages.Add });
        int weights = recipe.Tensors.Count;
        // Every stage reports its progress up to its end (the bars and their time remaining).
        Assert.That(stages.Select(p => p.Stage).Distinct(), Is.EqualTo(new[] { "capture", "local errors", "sensitivity", "verification" }));
        foreach (var g in stages.GroupBy(p => p.Stage).Where(g => g.Key != "verification"))
            Assert.That(g.Last().Done, Is.EqualTo(g.Last().Total), g.Key);
        TestContext.Out.WriteLine($"{weights} weights: {recipe.Cost!.SensitivityRuns} sensitivity runs, {recipe.Cost.VerificationRuns} verification runs, capture {recipe.Cost.CapturePasses} pass");
        Assert.That(recipe.Cost.CapturePasses, Is.EqualTo(1));
        Assert.That(recipe.Cost.SensitivityRuns, Is.LessThanOrEqualTo(weights));
        Assert.That(recipe.Cost.VerificationRuns, Is.InRange(1, BudgetSolver.MaxVerifications));
        Assert.That(recipe.Verification.Count(v => v.Taken), Is.EqualTo(1));
        // Grouped sensitivity: at most the runs asked for.
        var grouped = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(5), MaxSensitivityRuns = 2 });
        Assert.That(grouped.Cost!.SensitivityRuns, Is.EqualTo(2));
    }
}
