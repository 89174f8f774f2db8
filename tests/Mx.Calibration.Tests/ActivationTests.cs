using Mx.Calibration.Data;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Onnx.Tensors;
using Mx.Runtime.Formats;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>Per-tensor activation formats: the recipe's formats reach the quantized graph, and the choice is no worse than uniform.</summary>
public class ActivationTests
{
    private static TensorSettings S(MxFormat f) => new(f, 32, MxScaleMode.Floor, MxRounding.NearestEven);

    private static RecipeTensor Tensor(string name, MxFormat weight, MxFormat? act) =>
        new(name, "MatMul", S(weight), 0, null, null, null, null, null, null)
        {
            Activation = new RecipeActivation("", true, act is null ? null : S(act), null, null, null, null, null, []),
        };

    private static CalibrationRecipe Recipe(params RecipeTensor[] tensors) => new()
    {
        Model = "test", DataSource = "test", Samples = 0, RandomData = true, Budget = "", Candidates = [], Objective = "kl",
        AverageBits = 0, BudgetMet = true, Measured = Mx.Calibration.Evaluation.OutputError.Zero, Tensors = tensors,
    };

    private static NodeProto ConsumerOf(OnnxModel m, string value) => m.Proto.Graph.Node.First(n => n.Input.Contains(value));

    private static string Attr(NodeProto n, string name) => n.Attribute.FirstOrDefault(a => a.Name == name)?.S.ToStringUtf8() ?? "";

    [Test]
    public void RecipeActivationFormatsProduceTheExpectedNodesAndRun()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var recipe = Recipe(Tensor("fc1.weight", MxFormats.Mxfp8E4M3, MxFormats.Mxint8), Tensor("fc2.weight", MxFormats.Mxint8, MxFormats.Mxfp6E2M3));
        var samples = TestModels.Random(model, 2, 5);
        var outputs = new Dictionary<EmitForm, float[][]>();
        foreach (var emit in new[] { EmitForm.Packed, EmitForm.Fake })
        {
            using var q = OnnxModel.FromBytes(model.ToBytes());
            var result = ModelQuantizer.Quantize(q, RecipeApplier.Apply(q, recipe, new QuantizationPlan(new QuantizationOptions { Emit = emit })));
            var nodes = q.Proto.Graph.Node;
            var qdq = nodes.Where(n => n.OpType == "MxQuantizeDequantize").ToList();
            if (emit == EmitForm.Packed)
            {
                // fc1: MXINT8 activations go inside MxMatMul (the MX×MX kernel path); fc2: MXFP6 through an MxQuantizeDequantize in front.
                var mm = nodes.Where(n => n.OpType == "MxMatMul").ToList();
                Assert.That(mm, Has.Count.EqualTo(2));
                Assert.That(mm.Count(n => Attr(n, "act_format") == "mxint8"), Is.EqualTo(1));
                Assert.That(qdq, Has.Count.EqualTo(1));
                Assert.That(Attr(qdq[0], "format"), Is.EqualTo("mxfp6_e2m3"));
                Assert.That(ConsumerOf(q, qdq[0].Output[0]).OpType, Is.EqualTo("MxMatMul"));
                Assert.That(Attr(ConsumerOf(q, qdq[0].Output[0]), "act_format"), Is.Empty);
            }
            else
            {
                Assert.That(qdq.Select(n => Attr(n, "format")).Order(), Is.EqualTo(new[] { "mxfp6_e2m3", "mxint8" }));
                Assert.That(qdq.All(n => ConsumerOf(q, n.Output[0]).OpType == "MatMul"));
            }
            Assert.That(result.Tensors.Select(t => t.Settings.ActFormat?.Name).Order(), Is.EqualTo(new[] { "mxfp6_e2m3", "mxint8" }));
            outputs[emit] = TestModels.Outputs(q, samples);
        }
        // Packed (MX×MX kernel for fc1) and fake (MxQuantizeDequantize + float MatMul) compute the same thing.
        double mse = TestModels.Mse(outputs[EmitForm.Packed], outputs[EmitForm.Fake]);
        double power = outputs[EmitForm.Fake].SelectMany(x => x).Average(v => (double)v * v);
        TestContext.Out.WriteLine($"packed vs fake relative MSE {mse / power:G3}");
        Assert.That(mse / power, Is.LessThan(1e-6));
    }

    [Test]
    public void ActivationChoiceIsNoWorseThanUniformMxfp6AtEqualBits()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("transformer_block.onnx"));
        var samples = TestModels.Random(model, 2, 11);
        var candidates = FormatCandidate.Parse("mxint8");
        var probe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(9), Candidates = candidates, ActBudget = Budget.Bits(32) });
        double uniformBits = probe.ActUniform.First(u => u.Format == "mxfp6_e2m3").Bits;
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(9), Candidates = candidates, ActBudget = Budget.Bits(uniformBits) });
        Assert.That(recipe.ActAverageBits, Is.LessThanOrEqualTo(uniformBits + 1e-12));
        Assert.That(recipe.Tensors.All(t => t.Activation is { Chosen: true }), "every quantized weight's activation gets a format");

        // Independent path: the quantizer's fake emit of the recipe against the same weights with model-wide MXFP6 activations.
        using var auto = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(auto, RecipeApplier.Apply(auto, recipe, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.Fake })));
        using var uniform = OnnxModel.FromBytes(model.ToBytes());
        var weightsOnly = recipe with { Tensors = recipe.Tensors.Select(t => t with { Activation = null }).ToList() };
        ModelQuantizer.Quantize(uniform, RecipeApplier.Apply(uniform, weightsOnly, new QuantizationPlan(new QuantizationOptions { Emit = EmitForm.Fake, ActFormat = MxFormats.Mxfp6E2M3 })));
        using var ca = ModelComparison.FromBytes(model.ToBytes(), auto.ToBytes());
        using var cu = ModelComparison.FromBytes(model.ToBytes(), uniform.ToBytes());
        var a = ca.Compare(samples.Samples).Outputs[0];
        var u = cu.Compare(samples.Samples).Outputs[0];
        TestContext.Out.WriteLine($"activations: uniform mxfp6_e2m3 {uniformBits:0.###} bits KL {u.MeanKl:G4}; auto {recipe.ActAverageBits:0.###} bits KL {a.MeanKl:G4} " +
                                  $"({string.Join(", ", recipe.Tensors.GroupBy(t => t.Activation!.FormatName).Select(g => $"{g.Count()} {g.Key}"))})");
        Assert.That(a.MeanKl!.Value, Is.LessThanOrEqualTo(u.MeanKl!.Value * (1 + 1e-6)));
    }
}
