using Mx.Calibration.Data;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>
/// Calibration of the weights the measuring session has to rewire: Constant nodes, constants inside If subgraphs
/// (also two constants sharing one name), and a weight whose uses need two layouts. Each is checked through the
/// quantizer (an independent path): the recipe's formats are what it applies, its bits what it stores, and the
/// recipe's measured error what the fake-quantized model gives.
/// </summary>
public class CoverageTests
{
    private static readonly IReadOnlyList<FormatCandidate> Small = FormatCandidate.Parse("mxfp4_e2m1,mxint8,fp32");

    private static bool InMain(WeightCandidate c, OnnxModel m) => ReferenceEquals(c.Constant.Graph.Proto, m.Proto.Graph);

    private static CalibrationSamples Samples(params Dictionary<string, HostTensor>[] samples) => new(samples, "test", true);

    private static HostTensor Normal(Random r, params long[] shape)
    {
        var v = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()));
        return HostTensor.FromFloats(v, shape);
    }

    private static HostTensor Bool(bool b) => new(TensorElementType.Bool, [], [b ? (byte)1 : (byte)0]);

    /// <summary>Quantizes a copy under the recipe; returns the copy and the quantizer's records.</summary>
    private static (OnnxModel Model, QuantizationResult Result) Apply(OnnxModel model, CalibrationRecipe recipe, EmitForm emit)
    {
        var copy = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);
        var result = ModelQuantizer.Quantize(copy, RecipeApplier.Apply(copy, recipe, new QuantizationPlan(new QuantizationOptions { Emit = emit })));
        return (copy, result);
    }

    /// <summary>
    /// Checks the recipe against the quantizer: every recipe tensor is quantized in the recipe's format (in each of
    /// its layouts and constants) or left alone for fp32; the recipe's average bits are the packed bytes per element.
    /// </summary>
    private static void CheckAgainstQuantizer(OnnxModel model, CalibrationRecipe recipe)
    {
        var (packed, result) = Apply(model, recipe, EmitForm.Packed);
        using (packed)
        {
            var constants = WeightFinder.Find(model).Candidates.ToLookup(c => c.Name, StringComparer.Ordinal);
            // The packed data itself (elements, scales, micro-exponents), wherever the quantizer put it.
            var stored = packed.Graph.SelfAndDescendants().SelectMany(g => g.Proto.Initializer).ToDictionary(t => t.Name, t => (long)packed.GetTensorBytes(t).Length, StringComparer.Ordinal);
            long bits = 0, elements = 0;
            foreach (var t in recipe.Tensors)
            {
                var records = result.Tensors.Where(r => r.Name == t.Name).ToList();
                long n = constants[t.Name].Sum(c => c.ElementCount);
                elements += n;
                if (t.Settings is null)
                {
                    Assert.That(records, Is.Empty, t.Name);
                    Assert.That(result.Skipped.Any(s => s.Name == t.Name), Is.True, t.Name);
                    bits += 32 * n;
                    continue;
                }
                Assert.That(records, Has.Count.EqualTo(constants[t.Name].Sum(c => c.Groups.Count)), $"{t.Name}: one record per constant and layout");
                Assert.That(records.Select(r => r.Settings.Format.Name), Is.All.EqualTo(t.Settings.Format.Name), t.Name);
                bits += records.Sum(r => 8 * (stored[r.Elements] + stored[r.Scales!] + (r.Micro is null ? 0 : stored[r.Micro])));
            }
            TestContext.Out.WriteLine($"recipe {recipe.AverageBits:0.####} bits, packed {bits / (double)elements:0.####} bits");
            Assert.That(recipe.AverageBits, Is.EqualTo(bits / (double)elements).Within(1e-9));
        }
    }

    /// <summary>The recipe's measured NSR against the fake-quantized model's, measured independently by ModelComparison.</summary>
    private static void CheckMeasuredError(OnnxModel model, CalibrationRecipe recipe, CalibrationSamples samples)
    {
        var (fake, _) = Apply(model, recipe, EmitForm.Fake);
        using (fake)
        {
            using var cmp = ModelComparison.FromBytes(model.ToBytes(), fake.ToBytes());
            double nsr = cmp.Compare(samples.Samples).Outputs.Average(o => o.RelL2Error * o.RelL2Error);
            TestContext.Out.WriteLine($"recipe NSR {recipe.Measured.Nsr:G6}, fake-quantized model {nsr:G6}");
            Assert.That(nsr, Is.GreaterThan(0), "the recipe quantizes something");
            Assert.That(recipe.Measured.Nsr, Is.EqualTo(nsr).Within(1).Percent);
        }
    }

    [Test]
    public void ConstantNodeWeightsAreCalibrated()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("constant_weights.onnx"));
        var held = WeightFinder.Find(model).Candidates.Where(c => c.Problem is null && c.Constant.Source == ConstantSource.ConstantNode).Select(c => c.Name).ToList();
        Assert.That(held, Is.Not.Empty, "the model holds its weights in Constant nodes");
        var samples = TestModels.Random(model, 3, 11);
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(6), Candidates = Small, MinElements = 1 });
        Assert.That(recipe.Tensors.Select(t => t.Name), Is.SupersetOf(held));
        Assert.That(recipe.Skipped.Select(s => s.Name), Has.None.AnyOf(held));
        Assert.That(recipe.BudgetMet, Is.True);
        Assert.That(recipe.AverageBits, Is.LessThanOrEqualTo(6));
        CheckAgainstQuantizer(model, recipe);
        CheckMeasuredError(model, recipe, samples);
    }

    [Test]
    public void PpocrConstantNodeConvWeightsAreCalibrated()
    {
        string path = TestPaths.Shared("models", "ppocr-cls", "model.onnx");
        if (!File.Exists(path)) Assert.Ignore($"{path} is not available");
        using var model = OnnxModel.Load(path);
        var options = new CalibrationOptions { Budget = Budget.Bits(6), Candidates = FormatCandidate.Parse("mxfp4_e2m1,mxint8") };
        var conv = WeightFinder.Find(model).Candidates
            .Where(c => c.Problem is null && c.Op == "Conv" && c.Constant.Source == ConstantSource.ConstantNode && c.ElementCount >= options.MinElements)
            .Select(c => c.Name).ToList();
        Assert.That(conv, Is.Not.Empty, "ppocr-cls holds its Conv weights in Constant nodes");
        var r = new Random(5);
        var samples = Samples(new() { ["x"] = Normal(r, 1, 3, 48, 192) }, new() { ["x"] = Normal(r, 1, 3, 48, 192) });
        var recipe = Calibrator.Calibrate(model, samples, options);
        Assert.That(recipe.Tensors.Select(t => t.Name), Is.SupersetOf(conv));
        Assert.That(recipe.Skipped.Select(s => s.Name), Has.None.AnyOf(conv));
        Assert.That(recipe.BudgetMet, Is.True);
        // Measured on the model: quantizing a weight alone changes the outputs (it is wired to the swapped input).
        Assert.That(recipe.Tensors.Where(t => conv.Contains(t.Name)).Select(t => t.OutputError!.Nsr), Is.All.GreaterThan(0));
        CheckAgainstQuantizer(model, recipe);
    }

    /// <summary>
    /// X [2, 64] → If(cond): then = MatMul(MatMul(X, A), W) with A and W initializers of the branch; else = MatMul(X, W)
    /// with W a Constant node of the branch (another constant of the same name) → Y [2, 32].
    /// </summary>
    private static OnnxModel IfModel()
    {
        var random = new Random(3);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var thenG = new GraphProto { Name = "then" };
        thenG.Initializer.Add(TensorFactory.Float32("A", [64, 64], Values(64 * 64)));
        thenG.Initializer.Add(TensorFactory.Float32("W", [64, 32], Values(64 * 32)));
        thenG.Node.Add(new NodeProto { OpType = "MatMul", Name = "then_a", Input = { "X", "A" }, Output = { "then_h" } });
        thenG.Node.Add(new NodeProto { OpType = "MatMul", Name = "then_w", Input = { "then_h", "W" }, Output = { "then_y" } });
        thenG.Output.Add(Value("then_y", 2, 32));
        var elseG = new GraphProto { Name = "else" };
        var constant = new NodeProto { OpType = "Constant", Name = "else_const", Output = { "W" } };
        constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorFactory.Float32("W", [64, 32], Values(64 * 32)) });
        elseG.Node.Add(constant);
        elseG.Node.Add(new NodeProto { OpType = "MatMul", Name = "else_w", Input = { "X", "W" }, Output = { "else_y" } });
        elseG.Output.Add(Value("else_y", 2, 32));
        var main = new GraphProto { Name = "main" };
        main.Input.Add(Value("X", 2, 64));
        main.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Bool, Shape = new TensorShapeProto() } } });
        var node = new NodeProto { OpType = "If", Name = "branch", Input = { "cond" }, Output = { "Y" } };
        node.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenG });
        node.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseG });
        main.Node.Add(node);
        main.Output.Add(Value("Y", 2, 32));
        var proto = new ModelProto { IrVersion = 10, Graph = main, ProducerName = "mx-tests" };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return OnnxModel.FromProto(proto, sourceName: "if-model");
    }

    /// <summary>X [2, 64] → H = MatMul(X, W) → Y = Gemm(H, W, transB = 1): W [64, 64] needs blocks along axis 0 and along axis 1.</summary>
    private static OnnxModel TwoLayoutModel()
    {
        var random = new Random(4);
        var main = new GraphProto { Name = "main" };
        main.Input.Add(Value("X", 2, 64));
        main.Initializer.Add(TensorFactory.Float32("W", [64, 64], Enumerable.Range(0, 64 * 64).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()));
        main.Initializer.Add(TensorFactory.Float32("V", [64, 16], Enumerable.Range(0, 64 * 16).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray()));
        main.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm", Input = { "X", "W" }, Output = { "H" } });
        var gemm = new NodeProto { OpType = "Gemm", Name = "gemm", Input = { "H", "W" }, Output = { "G" } };
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        main.Node.Add(gemm);
        main.Node.Add(new NodeProto { OpType = "MatMul", Name = "out", Input = { "G", "V" }, Output = { "Y" } });
        main.Output.Add(Value("Y", 2, 16));
        var proto = new ModelProto { IrVersion = 10, Graph = main, ProducerName = "mx-tests" };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return OnnxModel.FromProto(proto, sourceName: "two-layout-model");
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Float, Shape = shape } } };
    }

    [Test]
    public void SubgraphWeightsAreCalibrated()
    {
        using var model = IfModel();
        var inSubgraphs = WeightFinder.Find(model).Candidates.Where(c => c.Problem is null && !InMain(c, model)).ToList();
        Assert.That(inSubgraphs.Select(c => c.Name).Distinct(), Is.EquivalentTo(new[] { "A", "W" }));
        var r = new Random(6);
        // Both branches run: one sample each way.
        var samples = Samples(new() { ["X"] = Normal(r, 2, 64), ["cond"] = Bool(true) }, new() { ["X"] = Normal(r, 2, 64), ["cond"] = Bool(false) },
            new() { ["X"] = Normal(r, 2, 64), ["cond"] = Bool(true) });
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(6.5), Candidates = Small, MinElements = 1 });
        Assert.That(recipe.Tensors.Select(t => t.Name), Is.EquivalentTo(new[] { "A", "W" }), "one decision per name, as the quantizer's settings address weights");
        Assert.That(recipe.Skipped, Is.Empty);
        Assert.That(recipe.BudgetMet, Is.True);
        Assert.That(recipe.Tensors.Where(t => t.Settings != null).Select(t => t.OutputError!.Nsr), Is.All.GreaterThan(0));
        CheckAgainstQuantizer(model, recipe);
        CheckMeasuredError(model, recipe, samples);
    }

    [Test]
    public void MultiLayoutWeightGetsOneFormatForAllItsUses()
    {
        using var model = TwoLayoutModel();
        var w = WeightFinder.Find(model).Candidates.Single(c => c.Name == "W");
        Assert.That(w.Groups, Has.Count.EqualTo(2), "W needs two layouts");
        var samples = TestModels.Random(model, 3, 7);
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions { Budget = Budget.Bits(9), Candidates = Small, MinElements = 1 });
        Assert.That(recipe.Tensors.Select(t => t.Name), Is.EquivalentTo(new[] { "W", "V" }));
        Assert.That(recipe.Skipped, Is.Empty);
        Assert.That(recipe.BudgetMet, Is.True);
        // Bits: one packing per layout, so W in a 4-bit format costs two packings of its elements.
        var tw = recipe.Tensors.Single(t => t.Name == "W");
        Assert.That(tw.Settings, Is.Not.Null, "only a 4-bit W fits 9 bits");
        Assert.That(tw.Bits, Is.EqualTo(2 * (tw.Settings!.Format.ElementBits + 8.0 / tw.Settings.BlockSize)).Within(1e-9));
        CheckAgainstQuantizer(model, recipe);
        CheckMeasuredError(model, recipe, samples);
    }

    [Test]
    public void SileroVadWeightsReadInsideIfBranchesAreCalibrated()
    {
        string path = TestPaths.Shared("models", "silero-vad", "model.onnx");
        if (!File.Exists(path)) Assert.Ignore($"{path} is not available");
        using var model = OnnxModel.Load(path);
        var options = new CalibrationOptions { Budget = Budget.Bits(6.5), Candidates = Small };
        // silero-vad's weights are main-graph initializers read by nodes of its If branches (outer-scope names).
        var inSubgraphs = WeightFinder.Find(model).Candidates
            .Where(c => c.Problem is null && c.ElementCount >= options.MinElements && c.Uses.All(u => !ReferenceEquals(u.Graph.Proto, model.Proto.Graph)))
            .Select(c => c.Name).ToList();
        Assert.That(inSubgraphs, Is.Not.Empty, "silero-vad's weights are read inside its If branches");
        var r = new Random(8);
        HostTensor Sr(long v) => new(TensorElementType.Int64, [], BitConverter.GetBytes(v));
        var samples = Samples(
            new() { ["input"] = Normal(r, 1, 512), ["sr"] = Sr(16000), ["state"] = HostTensor.FromFloats(new float[2 * 128], 2, 1, 128) },
            new() { ["input"] = Normal(r, 1, 256), ["sr"] = Sr(8000), ["state"] = HostTensor.FromFloats(new float[2 * 128], 2, 1, 128) });
        var recipe = Calibrator.Calibrate(model, samples, options);
        TestContext.Out.WriteLine(string.Join("\n", recipe.Tensors.Select(t => $"{t.Name}: {t.Settings?.Format.Name ?? "fp32"} NSR alone {t.OutputError!.Nsr:G4}")));
        Assert.That(recipe.Tensors.Select(t => t.Name), Is.SupersetOf(inSubgraphs));
        Assert.That(recipe.Skipped.Select(s => s.Name), Has.None.AnyOf(inSubgraphs));
        Assert.That(recipe.BudgetMet, Is.True);
        CheckAgainstQuantizer(model, recipe);
    }

    [Test]
    public void SwapCopyOfSubgraphWeightsRunsLikeTheModel()
    {
        using var model = IfModel();
        var r = new Random(9);
        var samples = Samples(new() { ["X"] = Normal(r, 2, 64), ["cond"] = Bool(true) }, new() { ["X"] = Normal(r, 2, 64), ["cond"] = Bool(false) });
        using var swap = new Evaluation.WeightSwapModel(model, ["A", "W"], samples);
        Assert.That(swap.Inputs("W"), Has.Count.EqualTo(2), "two constants named W, one input each");
        Assert.That(swap.Inputs("W").Select(i => i.InputName).Distinct().Count(), Is.EqualTo(2));
        // The copy's float32 outputs are the model's own.
        var expected = TestModels.Outputs(model, samples);
        for (int s = 0; s < samples.Samples.Count; s++)
            Assert.That(swap.ReferenceOutputs(s)[0].ToFloatArray(), Is.EqualTo(expected[s]).Within(1e-5));
        var ex = Assert.Throws<ArgumentException>(() => new Evaluation.WeightSwapModel(model, ["X"], samples));
        Assert.That(ex!.Message, Does.Contain("'X'"));
    }
}
