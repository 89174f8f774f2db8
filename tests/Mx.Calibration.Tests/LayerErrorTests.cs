using Mx.Calibration.Capture;
using Mx.Calibration.Linear;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Onnx.Tensors;
using Mx.Runtime;

namespace Mx.Calibration.Tests;

/// <summary>
/// H = XᵀX accumulation and the layer-local error tr(ΔᵀHΔ) (and ‖XΔ‖² on the reservoir) against independent
/// references: a direct float64 sum, and ONNX Runtime running the op itself with the weight Δ (the op is linear in
/// its weight, so ‖op(X; W) − op(X; Q)‖² = ‖op(X; Δ)‖²).
/// </summary>
public class LayerErrorTests
{
    private static float[] Normal(Random r, long n) =>
        Enumerable.Range(0, (int)n).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()))).ToArray();

    private static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    private static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    private static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    private static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(v) };

    /// <summary>Y = op(X, W) with W an initializer; X is input "x" (or int64 indices for Gather), Y is output "y".</summary>
    private static OnnxModel OneNode(string op, long[] xShape, long[] wShape, float[] w, TensorElementType xType = TensorElementType.Float, params AttributeProto[] attributes)
    {
        var g = new GraphProto { Name = "one" };
        var xt = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)xType, Shape = new TensorShapeProto() } };
        foreach (long d in xShape) xt.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        g.Input.Add(new ValueInfoProto { Name = "x", Type = xt });
        g.Initializer.Add(TensorFactory.Float32("w", wShape, w));
        var node = new NodeProto { OpType = op, Name = "node", Output = { "y" } };
        node.Input.AddRange(op == "Gather" ? ["w", "x"] : ["x", "w"]);
        node.Attribute.AddRange(attributes);
        g.Node.Add(node);
        g.Output.Add(new ValueInfoProto { Name = "y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Float } } });
        var proto = new ModelProto { IrVersion = 8, Graph = g, ProducerName = "mx-tests" };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return OnnxModel.FromProto(proto, sourceName: op);
    }

    /// <summary>‖op(X; Δ)‖² summed over samples, run by ONNX Runtime.</summary>
    private static double OrtError(OnnxModel model, IEnumerable<HostTensor> xs)
    {
        using var s = TestModels.Session(model);
        double e = 0;
        foreach (var x in xs)
            foreach (float v in s.Run(new Dictionary<string, HostTensor> { ["x"] = x }, ["y"])[0].ToFloatArray()) e += (double)v * v;
        return e;
    }

    /// <summary>Captures the weight's input over <paramref name="xs"/> (every row kept) and returns the Gram and reservoir errors of the weight's own values as Δ.</summary>
    private static (double Gram, double Reservoir, LayerInputStatistics Stats) Captured(OnnxModel model, IEnumerable<HostTensor> xs, bool[]? mask = null)
    {
        var c = WeightFinder.Find(model).Candidates.Single();
        var layout = c.Groups[0].Layout;
        var input = LayerInput.Of(c.Uses[0], layout, c.Shape, model.Graph.IsConstant, out string? why) ?? throw new AssertionException(why!);
        var stats = new LayerInputStatistics(input, new CaptureOptions { MaxRowsPerSample = 1 << 20, ReservoirRows = 1 << 16 });
        int i = 0;
        foreach (var x in xs) stats.Add(x, mask, i++);
        float[] delta = model.ReadFloat32(c.Constant.Tensor);
        double gram = LocalError.Compute(stats, layout, delta, input.Kind == LayerInputKind.Lookup ? LocalErrorMethod.Lookup : LocalErrorMethod.Gram);
        double reservoir = input.Kind == LayerInputKind.Lookup ? gram : LocalError.Compute(stats, layout, delta, LocalErrorMethod.Reservoir);
        return (gram, reservoir, stats);
    }

    private static object[] ConvCase(string name, long c, long cout, int group, long[] spatial, long[] kernel, params AttributeProto[] attributes) =>
        [name, c, cout, group, spatial, kernel, attributes];

    private static IEnumerable<object[]> ConvCases()
    {
        yield return ConvCase("3x3 pad 1", 4, 6, 1, [7, 9], [3, 3], Ints("pads", 1, 1, 1, 1));
        yield return ConvCase("groups 2, stride 2, dilation 2, asymmetric pads", 6, 4, 2, [11, 10], [3, 2], Ints("strides", 2, 2), Ints("dilations", 2, 1), Ints("pads", 1, 0, 2, 1));
        yield return ConvCase("depthwise, SAME_UPPER, stride 2", 5, 5, 5, [8, 7], [3, 3], Str("auto_pad", "SAME_UPPER"), Ints("strides", 2, 2));
        yield return ConvCase("SAME_LOWER 4x4", 3, 2, 1, [9, 6], [4, 4], Str("auto_pad", "SAME_LOWER"));
        yield return ConvCase("1-D, VALID, stride 3", 3, 4, 1, [20], [5], Str("auto_pad", "VALID"), Ints("strides", 3));
    }

    [TestCaseSource(nameof(ConvCases))]
    public void ConvErrorFromIm2ColGramEqualsOrtConvOfTheDelta(string name, long c, long cout, int group, long[] spatial, long[] kernel, AttributeProto[] attributes)
    {
        var r = new Random(name.Length);
        long[] wShape = [cout, c / group, .. kernel];
        using var model = OneNode("Conv", [2, c, .. spatial], wShape, Normal(r, wShape.Aggregate(1L, (a, b) => a * b)), attributes: [Int("group", group), .. attributes]);
        var xs = Enumerable.Range(0, 2).Select(_ => HostTensor.FromFloats(Normal(r, 2 * c * spatial.Aggregate(1L, (a, b) => a * b)), [2, c, .. spatial])).ToList();
        double expected = OrtError(model, xs);
        var (gram, reservoir, stats) = Captured(model, xs);
        TestContext.Out.WriteLine($"{name}: ORT {expected:G8}, H {gram:G8}, reservoir {reservoir:G8}, rows {stats.RowsRepresented}");
        Assert.That(gram, Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(reservoir, Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [Test]
    public void MatMulWithBatchDimsEqualsOrt()
    {
        var r = new Random(2);
        using var model = OneNode("MatMul", [2, 3, 5, 40], [40, 24], Normal(r, 40 * 24));
        var xs = Enumerable.Range(0, 3).Select(_ => HostTensor.FromFloats(Normal(r, 2 * 3 * 5 * 40), 2, 3, 5, 40)).ToList();
        double expected = OrtError(model, xs);
        var (gram, reservoir, stats) = Captured(model, xs);
        Assert.That(stats.RowsRepresented, Is.EqualTo(3 * 30));
        Assert.That(gram, Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(reservoir, Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [TestCase(0, 0)]
    [TestCase(1, 1)]
    [TestCase(0, 1)]
    public void GemmWithTransposesAndAlphaEqualsOrt(int transA, int transB)
    {
        var r = new Random(3 + transA + 2 * transB);
        const int m = 9, k = 37, n = 12;
        long[] aShape = transA == 1 ? [k, m] : [m, k];
        long[] bShape = transB == 1 ? [n, k] : [k, n];
        using var model = OneNode("Gemm", aShape, bShape, Normal(r, k * n), attributes: [Int("transA", transA), Int("transB", transB), Float("alpha", 0.5f)]);
        var xs = Enumerable.Range(0, 2).Select(_ => HostTensor.FromFloats(Normal(r, m * k), aShape)).ToList();
        double expected = OrtError(model, xs);
        var (gram, reservoir, _) = Captured(model, xs);
        Assert.That(gram, Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(reservoir, Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [Test]
    public void GatherErrorCountsLookedUpRowsLikeOrt()
    {
        var r = new Random(4);
        using var model = OneNode("Gather", [2, 7], [50, 16], Normal(r, 50 * 16), TensorElementType.Int64);
        var xs = Enumerable.Range(0, 2).Select(s => new HostTensor(TensorElementType.Int64, [2, 7],
            Enumerable.Range(0, 14).SelectMany(i => BitConverter.GetBytes((long)(i % 3 == 0 ? -1 : r.Next(50)))).ToArray())).ToList();
        double expected = OrtError(model, xs);
        var (lookup, _, stats) = Captured(model, xs);
        Assert.That(stats.Counts!.Sum(), Is.EqualTo(28));
        Assert.That(lookup, Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [TestCase("MatMul")]
    [TestCase("Conv")]
    public void ActivationErrorEqualsOrtOnTheQuantizedActivation(string op)
    {
        // ‖(X − Q(X))·W‖² from the reservoir rows against ORT running the op on X − Q(X), Q blocking X along its
        // reduction axis (MatMul: the last axis; Conv: the channels of each pixel).
        var r = new Random(op.Length);
        var settings = FormatCandidate.Parse("mxfp4_e2m1")[0].Settings!;
        long[] xShape = op == "MatMul" ? [2, 5, 64] : [2, 40, 6, 7];
        long[] wShape = op == "MatMul" ? [64, 12] : [8, 40, 3, 3];
        var attrs = op == "Conv" ? new[] { Ints("pads", 1, 1, 1, 1) } : [];
        using var model = OneNode(op, xShape, wShape, Normal(r, wShape.Aggregate(1L, (a, b) => a * b)), attributes: attrs);
        var x = Normal(r, xShape.Aggregate(1L, (a, b) => a * b));
        // X − Q(X), quantized as rows of channels: NCHW is viewed channel-last for the Conv.
        float[] delta;
        if (op == "MatMul")
        {
            delta = x.Zip(FakeQuant.Apply(x, new WeightLayout([10, 64], 1), settings), (a, b) => a - b).ToArray();
        }
        else
        {
            int n = 2, c = 40, hw = 42;
            var last = new float[x.Length];
            for (int b = 0; b < n; b++) for (int ch = 0; ch < c; ch++) for (int p = 0; p < hw; p++) last[(b * hw + p) * c + ch] = x[(b * c + ch) * hw + p];
            var q = FakeQuant.Apply(last, new WeightLayout([n * hw, c], 1), settings);
            delta = new float[x.Length];
            for (int b = 0; b < n; b++) for (int ch = 0; ch < c; ch++) for (int p = 0; p < hw; p++) delta[(b * c + ch) * hw + p] = last[(b * hw + p) * c + ch] - q[(b * hw + p) * c + ch];
        }
        double expected = OrtError(model, [HostTensor.FromFloats(delta, xShape)]);
        var (_, _, stats) = Captured(model, [HostTensor.FromFloats(x, xShape)]);
        var c0 = WeightFinder.Find(model).Candidates.Single();
        double local = ActivationSelector.LocalOf(new ActivationLayer(stats, model.ReadFloat32(c0.Constant.Tensor), c0.Groups[0].Layout, null), settings);
        TestContext.Out.WriteLine($"{op}: ORT {expected:G8}, reservoir {local:G8}");
        Assert.That(local, Is.EqualTo(expected).Within(1e-3).Percent);
    }

    [Test]
    public void MaskedRowsAreLeftOut()
    {
        var r = new Random(5);
        using var model = OneNode("MatMul", [2, 6, 32], [32, 8], Normal(r, 32 * 8));
        var mask = Enumerable.Range(0, 12).Select(i => i % 6 < 4).ToArray();   // the last two positions of each sequence are padding
        var x = Normal(r, 2 * 6 * 32);
        var zeroed = x.Select((v, i) => mask[i / 32] ? v : 0f).ToArray();
        double expected = OrtError(model, [HostTensor.FromFloats(zeroed, 2, 6, 32)]);
        var (gram, reservoir, stats) = Captured(model, [HostTensor.FromFloats(x, 2, 6, 32)], mask);
        Assert.That(stats.RowsRepresented, Is.EqualTo(8));
        Assert.That(gram, Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(reservoir, Is.EqualTo(expected).Within(1e-4).Percent);
    }

    [Test]
    public void GramMatchesADirectSumAndMerges()
    {
        var r = new Random(6);
        foreach (var (k, rows) in new[] { (1, 3), (37, 150), (300, 200) })
        {
            var x = Normal(r, (long)k * rows);
            var a = new GramAccumulator(k);
            a.Add(x.AsSpan(0, k * (rows / 2)), rows / 2, 0.5);
            var b = new GramAccumulator(k);
            b.Add(x.AsSpan(k * (rows / 2)), rows - rows / 2, 0.5);
            a.Merge(b);
            var full = a.ToFull();
            for (int i = 0; i < k; i += Math.Max(1, k / 13))
                for (int j = 0; j < k; j += Math.Max(1, k / 11))
                {
                    double direct = 0;
                    for (int t = 0; t < rows; t++) direct += 0.5 * x[t * k + i] * (double)x[t * k + j];
                    Assert.That(full[i * k + j], Is.EqualTo(direct).Within(1e-9 * (1 + Math.Abs(direct))), $"K {k} H[{i},{j}]");
                    Assert.That(a[i, j], Is.EqualTo(full[i * k + j]));
                }
            Assert.That(a.Rows, Is.EqualTo(rows));
            Assert.That(a.Weight, Is.EqualTo(rows * 0.5));
        }
    }

    [Test]
    public void SubsampledRowsStandForEveryRowAndAreReproducible()
    {
        var r = new Random(7);
        using var model = OneNode("MatMul", [4000, 16], [16, 4], Normal(r, 64));
        var xs = Enumerable.Range(0, 3).Select(_ => HostTensor.FromFloats(Normal(r, 4000 * 16), 4000, 16)).ToList();
        var c = WeightFinder.Find(model).Candidates.Single();
        var input = LayerInput.Of(c.Uses[0], c.Groups[0].Layout, c.Shape, model.Graph.IsConstant, out _)!;
        var options = new CaptureOptions { MaxRowsPerSample = 500, ReservoirRows = 64 };
        LayerInputStatistics Run()
        {
            var s = new LayerInputStatistics(input, options);
            for (int i = 0; i < xs.Count; i++) s.Add(xs[i], null, i);
            return s;
        }
        var first = Run();
        var second = Run();
        Assert.That(first.RowsRepresented, Is.EqualTo(12000));
        Assert.That(first.RowsUsed, Is.EqualTo(1500));
        Assert.That(second.Hessian(), Is.EqualTo(first.Hessian()), "same seed, same H");
        Assert.That(second.Reservoir!.ToMatrix(), Is.EqualTo(first.Reservoir!.ToMatrix()));
        // Unit-variance inputs: each diagonal entry of the scaled H estimates the row count.
        var h = first.Hessian();
        for (int i = 0; i < 16; i++) Assert.That(h[i * 16 + i], Is.EqualTo(12000).Within(15).Percent);
    }

    [Test]
    public void HeldOutSamplesGoToTheirOwnGram()
    {
        var r = new Random(8);
        using var model = OneNode("MatMul", [5, 8], [8, 3], Normal(r, 24));
        var xs = Enumerable.Range(0, 4).Select(_ => HostTensor.FromFloats(Normal(r, 40), 5, 8)).ToList();
        var c = WeightFinder.Find(model).Candidates.Single();
        var input = LayerInput.Of(c.Uses[0], c.Groups[0].Layout, c.Shape, model.Graph.IsConstant, out _)!;
        var s = new LayerInputStatistics(input, new CaptureOptions { HoldOutEvery = 2 });
        for (int i = 0; i < xs.Count; i++) s.Add(xs[i], null, i);
        GramAccumulator Direct(params int[] samples)
        {
            var g = new GramAccumulator(8);
            foreach (int i in samples) g.Add(xs[i].AsSpan<float>(), 5);
            return g;
        }
        Assert.That(s.Hessian(), Is.EqualTo(Direct(0, 2).ToFull()).Within(1e-9));
        Assert.That(s.Hessian(heldOut: true), Is.EqualTo(Direct(1, 3).ToFull()).Within(1e-9));
        Assert.That(s.RowsRepresented, Is.EqualTo(10));
        Assert.That(s.HeldOutRowsRepresented, Is.EqualTo(10));
        Assert.That(s.HeldOutReservoir!.Rows, Has.Count.EqualTo(10));
    }

    [Test]
    public void SpilledGramReadsBackTheSame()
    {
        var r = new Random(9);
        using var model = OneNode("MatMul", [6, 12], [12, 3], Normal(r, 36));
        var c = WeightFinder.Find(model).Candidates.Single();
        var input = LayerInput.Of(c.Uses[0], c.Groups[0].Layout, c.Shape, model.Graph.IsConstant, out _)!;
        var s = new LayerInputStatistics(input, new CaptureOptions());
        s.Add(HostTensor.FromFloats(Normal(r, 72), 6, 12), null, 0);
        var before = s.Hessian();
        string dir = Directory.CreateTempSubdirectory("mx-spill-").FullName;
        try
        {
            long held = s.Bytes;
            s.Spill(dir);
            Assert.That(s.IsSpilled, Is.True);
            Assert.That(s.Bytes, Is.LessThan(held));
            Assert.That(s.Hessian(), Is.EqualTo(before));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
