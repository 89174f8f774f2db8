using Mx.Calibration.Data;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Tensors;
using Mx.Runtime.Formats;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>Activation-side channel splitting and the quantization-aware weight split.</summary>
public class SplitTests
{
    private static TensorSettings S(MxFormat f) => new(f, 32, MxScaleMode.Floor, MxRounding.NearestEven);

    /// <summary>
    /// X[1, 16, 64] → MatMul(W1 [64, 64]) [→ Relu] → MatMul(W2 [64, 48]) → Y. W1's output columns 3, 17 and 50 are 40×
    /// larger, so the activation W2 reads has three outlier channels.
    /// </summary>
    private static OnnxModel PlantedActivationOutliers(bool relu)
    {
        var rng = new Random(21);
        float[] Rand(int n, float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        float[] w1 = Rand(64 * 64, 0.2f), w2 = Rand(64 * 48, 0.2f);
        foreach (int c in new[] { 3, 17, 50 })
            for (int k = 0; k < 64; k++) w1[k * 64 + c] *= 40;
        var g = new GraphProto { Name = "planted" };
        ValueInfoProto Info(string name, params long[] dims)
        {
            var t = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = new TensorShapeProto() } };
            foreach (long d in dims) t.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            return new ValueInfoProto { Name = name, Type = t };
        }
        g.Input.Add(Info("x", 1, 16, 64));
        g.Output.Add(Info("y", 1, 16, 48));
        g.Initializer.Add(TensorFactory.Float32("w1", [64, 64], w1));
        g.Initializer.Add(TensorFactory.Float32("w2", [64, 48], w2));
        NodeProto Node(string op, string name, string[] inputs, string output)
        {
            var n = new NodeProto { OpType = op, Name = name };
            n.Input.AddRange(inputs);
            n.Output.Add(output);
            return n;
        }
        g.Node.Add(Node("MatMul", "mm1", ["x", "w1"], "h"));
        if (relu) g.Node.Add(Node("Relu", "relu", ["h"], "hr"));
        g.Node.Add(Node("MatMul", "mm2", [relu ? "hr" : "h", "w2"], "y"));
        var proto = new ModelProto { IrVersion = 10, Graph = g };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return OnnxModel.FromProto(proto, sourceName: "planted");
    }

    private static double WorstRelative(float[][] a, float[][] b)
    {
        double worst = 0;
        for (int s = 0; s < a.Length; s++)
            for (int i = 0; i < a[s].Length; i++)
                worst = Math.Max(worst, Math.Abs(a[s][i] - b[s][i]) / Math.Max(1, Math.Abs(a[s][i])));
        return worst;
    }

    private static CalibrationStatistics Stats(OnnxModel m, CalibrationSamples samples) =>
        StatisticsCollector.Collect(m, CalibrationDataReaders.FromEnumerable(samples.Samples), ActivationSite.Find(m));

    [TestCase(false, "producer:w1")]
    [TestCase(true, "gather+mul")]
    public void ActivationSplitKeepsTheFunctionAndLowersActivationQuantizationError(bool relu, string expectedVia)
    {
        using var model = PlantedActivationOutliers(relu);
        var samples = TestModels.Random(model, 4, 9);
        var stats = Stats(model, samples);
        Assert.That(stats.Activations["w2"].OutlierChannels(4), Is.EqualTo(new[] { 3, 17, 50 }));
        using var split = OnnxModel.FromBytes(model.ToBytes());
        var target = OcsTarget.Get(split, "w2");
        var d = OcsPlanner.PlanActivation(target, stats.Activations["w2"], 0.05, 4, tryReorder: true, S(MxFormats.Mxint8));
        Assert.That(d, Is.Not.Null, "the planted outliers should be worth splitting");
        Assert.That(d!.Map.SplitChannels, Is.SupersetOf(new[] { 3, 17, 50 }));
        Assert.That(OcsRewriter.Apply(split, "w2", d.Map, OcsSide.Activation), Is.EqualTo(expectedVia));

        double identity = WorstRelative(TestModels.Outputs(model, samples, optimize: false), TestModels.Outputs(split, samples, optimize: false));
        TestContext.Out.WriteLine($"split vs original worst relative difference {identity:G3}");
        Assert.That(identity, Is.LessThanOrEqualTo(1e-5));

        // Output MSE with only w2's activation quantized (w2 itself in MXINT8 in both; w1 float32), through the quantizer.
        var reference = TestModels.Outputs(model, samples);
        foreach (var act in new[] { MxFormats.Mxint8, MxFormats.Mxfp8E4M3 })
        {
            QuantizationPlan Plan(QuantizationOptions o) => new QuantizationPlan(o with { MinElements = 0 }).WithOverrides([new("w1", null), new("w2", S(MxFormats.Mxint8) with { ActFormat = act })]);
            using var qa = TestModels.FakeQuantized(model, Plan);
            using var qb = TestModels.FakeQuantized(split, Plan);
            double before = TestModels.Mse(reference, TestModels.Outputs(qa, samples)), after = TestModels.Mse(reference, TestModels.Outputs(qb, samples));
            TestContext.Out.WriteLine($"{act.Name} activations: output MSE {before:G4} → {after:G4} with the split");
            Assert.That(after, Is.LessThan(before), act.Name);
        }
    }

    [Test]
    public void ActivationSplitKeepsTheFunctionOfTheTestModels()
    {
        foreach (string file in new[] { "transformer_block.onnx", "mlp_outliers.onnx", "gemm_transb_bias.onnx" })
        {
            using var model = OnnxModel.Load(TestPaths.TestModel(file));
            var samples = TestModels.Random(model, 2, 4);
            var stats = Stats(model, samples);
            using var split = OnnxModel.FromBytes(model.ToBytes());
            int done = 0;
            foreach (var t in OcsTarget.Find(split))
            {
                if (!stats.Activations.TryGetValue(t.Name, out var st)) continue;
                var map = ChannelSplitPlanner.GroupOutliers(st.Reservoir.ToMatrix(), new WeightView(st.K, st.Reservoir.Rows.Count, false),
                    ChannelSplitPlanner.SplitByAmax(st.ChannelAmax.ToArray(), 0.05, 32));
                OcsRewriter.Apply(split, t.Name, map, OcsSide.Activation);
                done++;
            }
            double worst = WorstRelative(TestModels.Outputs(model, samples, optimize: false), TestModels.Outputs(split, samples, optimize: false));
            TestContext.Out.WriteLine($"{file}: {done} activations split, worst relative difference {worst:G3}");
            Assert.That(done, Is.GreaterThan(0));
            Assert.That(worst, Is.LessThanOrEqualTo(1e-5), file);
        }
    }

    [TestCase("mxfp4_e2m1")]
    [TestCase("mxfp6_e2m3")]
    [TestCase("mxint8")]
    public void QuantizationAwareHalvesSumCloserThanNaiveHalves(string format)
    {
        var f = MxFormats.Parse(format);
        var rng = new Random(5);
        const int k = 96, n = 40;
        var w = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var view = new WeightView(k, n, true);
        var map = ChannelSplitPlanner.Split(w, view, 0.3, 32);
        float[] naive = view.Apply(w, map), qa = QaSplit.Apply(w, view, map, S(f));
        var layout = new WeightLayout([map.Count, n], 0);
        float[] qNaive = FakeQuant.Apply(naive, layout, S(f)), qQa = FakeQuant.Apply(qa, layout, S(f));
        // Mean |q(h1) + q(h2) − w| over the split channels' values.
        var to = view.WithK(map.Count);
        double eNaive = 0, eQa = 0;
        int count = 0;
        foreach (var pieces in Enumerable.Range(0, map.Count).GroupBy(j => map.Sources[j]).Where(g => g.Count() == 2))
            for (int x = 0; x < n; x++)
            {
                double orig = w[view.Index(pieces.Key, x)];
                Assert.That(qa[to.Index(pieces.First(), x)] + qa[to.Index(pieces.Last(), x)], Is.EqualTo(orig).Within(1e-6), "the halves sum to w");
                eNaive += Math.Abs(pieces.Sum(j => (double)qNaive[to.Index(j, x)]) - orig);
                eQa += Math.Abs(pieces.Sum(j => (double)qQa[to.Index(j, x)]) - orig);
                count++;
            }
        TestContext.Out.WriteLine($"{format}: {count} split values, mean |Σq − w| naive {eNaive / count:G4}, qa {eQa / count:G4}");
        Assert.That(count, Is.GreaterThan(0));
        Assert.That(eQa, Is.LessThan(eNaive));
    }

    [Test]
    public void RecipeRecordsTheSplitModeAndReproducesTheSplit()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("transformer_block.onnx"));
        var samples = TestModels.Random(model, 2, 6);
        var recipe = Calibrator.Calibrate(model, samples, new CalibrationOptions
        {
            Budget = Budget.Bits(7), Candidates = FormatCandidate.Parse("mxfp4_e2m1,mxfp6_e2m3"), OcsRatio = 0.05, OcsMode = OcsSplitMode.Qa,
        });
        var split1 = recipe.Tensors.Where(t => t.Ocs != null).ToList();
        TestContext.Out.WriteLine(string.Join(", ", split1.Select(t => $"{t.Name}: {t.OcsMode}")));
        Assert.That(split1.Any(t => t.OcsMode == OcsSplitMode.Qa), "the quantization-aware split should be kept for some weight");
        string json = RecipeJson.ToJson(recipe);
        var parsed = RecipeJson.Parse(json);
        Assert.That(parsed.Tensors.Select(t => t.OcsMode), Is.EqualTo(recipe.Tensors.Select(t => t.OcsMode)));
        Assert.That(json, Does.Contain("\"mode\": \"qa\""));
        // Applying the parsed recipe (splits only, nothing quantized) keeps the function.
        using var split = OnnxModel.FromBytes(model.ToBytes());
        RecipeApplier.Apply(split, parsed, new QuantizationPlan(new QuantizationOptions()));
        Assert.That(WorstRelative(TestModels.Outputs(model, samples, optimize: false), TestModels.Outputs(split, samples, optimize: false)), Is.LessThanOrEqualTo(1e-5));
    }
}
