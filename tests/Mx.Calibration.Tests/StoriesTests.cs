using Mx.Calibration.Data;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>stories260K: the automatic choice against uniform MXFP4 (MatMul weights), a few seconds.</summary>
public class StoriesTests
{
    [Test]
    [CancelAfter(30_000)]
    public void AutomaticChoiceAt4Point5BitsHasLowerKlThanUniformMxfp4OnTheCalibrationTokens()
    {
        string dir = TestPaths.Shared("models", "stories260K");
        using var model = OnnxModel.Load(Path.Combine(dir, "model.onnx"));
        // The 49 greedy tokens as one [1, 49] sample (the .npy holds them as int64 [49]).
        string data = Directory.CreateTempSubdirectory("mx-stories-").FullName;
        try
        {
            var t = Mx.Runtime.IO.NpyFile.Read(Path.Combine(dir, "greedy_tokens.npy"));
            Mx.Runtime.IO.NpyFile.Write(Path.Combine(data, "input_ids.npy"), new HostTensor(t.ElementType, [1, 1, t.ElementCount], t.Data));
            var samples = CalibrationSamples.Load(data, ModelInputs.Of(model));
            Assert.That(samples.Samples[0]["input_ids"].ElementCount, Is.EqualTo(49));
            var ops = new HashSet<string> { "MatMul" };
            var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions
            {
                Budget = Budget.Bits(4.5), Ops = ops, Candidates = FormatCandidate.Parse("mxfp4_e2m1,mxfp6_e2m3,mxint8"),
            });
            Assert.That(recipe.AverageBits, Is.LessThanOrEqualTo(4.5));

            var options = new QuantizationOptions { Emit = EmitForm.Fake, Ops = ops };
            using var auto = OnnxModel.FromBytes(model.ToBytes());
            ModelQuantizer.Quantize(auto, RecipeApplier.Apply(auto, recipe, new QuantizationPlan(options)));
            using var fp4 = OnnxModel.FromBytes(model.ToBytes());
            ModelQuantizer.Quantize(fp4, new QuantizationPlan(options with { Format = MxFormats.Mxfp4E2M1 }));
            using var ca = ModelComparison.FromBytes(model.ToBytes(), auto.ToBytes());
            using var cu = ModelComparison.FromBytes(model.ToBytes(), fp4.ToBytes());
            var a = ca.Compare(samples.Samples).Outputs[0];
            var u = cu.Compare(samples.Samples).Outputs[0];
            TestContext.Out.WriteLine($"uniform MXFP4: KL {u.MeanKl:G4}, top-1 {u.Top1Agreement:0.###}; auto {recipe.AverageBits:0.###} bits: KL {a.MeanKl:G4}, top-1 {a.Top1Agreement:0.###}");
            Assert.That(a.MeanKl!.Value, Is.LessThan(u.MeanKl!.Value));
        }
        finally
        {
            Directory.Delete(data, true);
        }
    }
}
