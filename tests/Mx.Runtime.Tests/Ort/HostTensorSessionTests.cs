using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ort;

public class OrtSessionTests
{
    private static HostTensor RandomFloats(Random rng, params long[] shape)
    {
        var t = HostTensor.Zeros(TensorElementType.Float, shape);
        var s = t.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    [Test]
    public void AddMatchesElementwiseSum()
    {
        var model = new TestModelWriter()
            .Input("a", TensorElementType.Float, 2, 3).Input("b", TensorElementType.Float, 2, 3)
            .Output("c", TensorElementType.Float, 2, 3)
            .Node("Add", ["a", "b"], ["c"], "add0").ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        var rng = new Random(1);
        var a = RandomFloats(rng, 2, 3);
        var b = RandomFloats(rng, 2, 3);
        var c = session.Run(new Dictionary<string, HostTensor> { ["a"] = a, ["b"] = b })["c"];
        Assert.That(c.Shape, Is.EqualTo(new long[] { 2, 3 }));
        for (int i = 0; i < 6; i++)
            Assert.That(c.AsSpan<float>()[i], Is.EqualTo(a.AsSpan<float>()[i] + b.AsSpan<float>()[i]));
    }

    [Test]
    public void MatMulMatchesScalarReference()
    {
        const int m = 5, k = 37, n = 11;
        var model = new TestModelWriter()
            .Input("x", TensorElementType.Float, "batch", k).Output("y", TensorElementType.Float, "batch", n)
            .Initializer("w", RandomFloats(new Random(7), k, n))
            .Node("MatMul", ["x", "w"], ["y"], "mm").ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        var w = RandomFloats(new Random(7), k, n).AsSpan<float>().ToArray();
        var x = RandomFloats(new Random(8), m, k);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x })["y"];
        Assert.That(y.Shape, Is.EqualTo(new long[] { m, n }));
        var xs = x.AsSpan<float>();
        for (int r = 0; r < m; r++)
            for (int c = 0; c < n; c++)
            {
                double sum = 0;
                for (int i = 0; i < k; i++) sum += (double)xs[r * k + i] * w[i * n + c];
                Assert.That(y.AsSpan<float>()[r * n + c], Is.EqualTo(sum).Within(1e-5), $"y[{r},{c}]");
            }
    }

    private static IEnumerable<TensorElementType> RoundTripTypes() =>
    [
        TensorElementType.Float, TensorElementType.Float16, TensorElementType.Int64, TensorElementType.Int32,
        TensorElementType.Int8, TensorElementType.UInt8, TensorElementType.Bool, TensorElementType.Double,
    ];

    /// <summary>Values in [-3, 3] (or 0/1 for bool) encoded as <paramref name="type"/>, and the floats they stand for.</summary>
    private static (HostTensor Tensor, float[] Values) Sample(TensorElementType type, long[] shape)
    {
        var t = HostTensor.Zeros(type, shape);
        var values = new float[t.ElementCount];
        for (int i = 0; i < values.Length; i++)
        {
            int v = type == TensorElementType.Bool ? i % 3 == 0 ? 1 : 0 : type == TensorElementType.UInt8 ? (i * 7) % 250 : (i * 5) % 7 - 3;
            values[i] = v;
            switch (type)
            {
                case TensorElementType.Float: t.AsSpan<float>()[i] = v + 0.25f * (i % 2); values[i] += 0.25f * (i % 2); break;
                case TensorElementType.Double: t.AsSpan<double>()[i] = v; break;
                case TensorElementType.Float16: t.AsSpan<Half>()[i] = (Half)(v + 0.5f * (i % 2)); values[i] += 0.5f * (i % 2); break;
                case TensorElementType.Int64: t.AsSpan<long>()[i] = v; break;
                case TensorElementType.Int32: t.AsSpan<int>()[i] = v; break;
                case TensorElementType.Int8: t.AsSpan<sbyte>()[i] = (sbyte)v; break;
                case TensorElementType.UInt8: t.AsSpan<byte>()[i] = (byte)v; break;
                case TensorElementType.Bool: t.AsSpan<bool>()[i] = v != 0; break;
            }
        }
        return (t, values);
    }

    [TestCaseSource(nameof(RoundTripTypes))]
    public void ElementTypeGoesInAndOut(TensorElementType type)
    {
        // y = Identity(x) must return x's bytes; z = Cast<float>(x) checks ORT read the values we meant.
        var model = new TestModelWriter()
            .Input("x", type, "n", 4).Output("y", type, "n", 4).Output("z", TensorElementType.Float, "n", 4)
            .Node("Identity", ["x"], ["y"], "id")
            .Node("Cast", ["x"], ["z"], "cast", "", ("to", (long)TensorElementType.Float)).ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        Assert.That(session.Inputs[0].ElementType, Is.EqualTo(type));
        Assert.That(session.Outputs[0].ElementType, Is.EqualTo(type));
        var (x, values) = Sample(type, [3, 4]);
        var outs = session.Run(new Dictionary<string, HostTensor> { ["x"] = x }, ["y", "z"]);
        Assert.That(outs[0].ElementType, Is.EqualTo(type));
        Assert.That(outs[0].Shape, Is.EqualTo(x.Shape));
        Assert.That(outs[0].Data, Is.EqualTo(x.Data));
        Assert.That(outs[1].AsSpan<float>().ToArray(), Is.EqualTo(values));
    }

    [Test]
    public void EmptyTensorRuns()
    {
        var model = new TestModelWriter()
            .Input("x", TensorElementType.Float, "n", 3).Output("y", TensorElementType.Float, "n", 3)
            .Node("Relu", ["x"], ["y"]).ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.Zeros(TensorElementType.Float, 0, 3) })["y"];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 0, 3 }));
    }

    [Test]
    public void MetadataReportsNamesTypesAndDynamicDims()
    {
        var model = new TestModelWriter()
            .Input("tokens", TensorElementType.Int64, "batch", null, 8)
            .Input("mask", TensorElementType.Bool, 2)
            .Output("out", TensorElementType.Float, "batch", null, 8)
            .Node("Cast", ["tokens"], ["out"], "c", "", ("to", 1L))
            .Node("Identity", ["mask"], ["mask_out"]).ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        Assert.That(session.Inputs.Select(i => i.Name), Is.EqualTo(new[] { "tokens", "mask" }));
        var tokens = session.Inputs[0];
        Assert.That(tokens.ElementType, Is.EqualTo(TensorElementType.Int64));
        Assert.That(tokens.Shape, Is.EqualTo(new long[] { -1, -1, 8 }));
        Assert.That(tokens.SymbolicDims, Is.EqualTo(new[] { "batch", "", "" }));
        Assert.That(tokens.ToString(), Is.EqualTo("tokens: int64[batch, ?, 8]"));
        Assert.That(session.Inputs[1].ElementType, Is.EqualTo(TensorElementType.Bool));
        Assert.That(session.Outputs.Single().Name, Is.EqualTo("out"));
        Assert.That(session.Outputs[0].Shape, Is.EqualTo(new long[] { -1, -1, 8 }));
    }

    [Test]
    public void FromFileLoadsAndNamesFileOnFailure()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mx-ort-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string good = Path.Combine(dir, "relu.onnx");
            File.WriteAllBytes(good, new TestModelWriter().Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2).Node("Relu", ["x"], ["y"]).ToBytes());
            using (var s = HostTensorSession.FromFile(good))
            {
                var y = s.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([-1f, 2f], 2) })["y"];
                Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(new[] { 0f, 2f }));
            }
            string bad = Path.Combine(dir, "garbage.onnx");
            File.WriteAllBytes(bad, [0xff, 0xff, 0xff, 0x01, 0x02]);
            var e = Assert.Throws<OrtException>(() => HostTensorSession.FromFile(bad));
            Assert.That(e!.Message, Does.Contain(bad));
            Assert.That(e.OrtMessage, Is.Not.Empty);
            Assert.Throws<FileNotFoundException>(() => HostTensorSession.FromFile(Path.Combine(dir, "absent.onnx")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void BadModelBytesGiveOrtsError()
    {
        var e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(new byte[] { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3 }));
        Assert.That(e!.Code, Is.Not.EqualTo(OrtErrorCode.Ok));
        Assert.That(e.OrtMessage, Is.Not.Empty);
        Assert.That(e.Message, Does.Contain(e.OrtMessage));
    }

    [Test]
    public void InvalidGraphGivesOrtsError()
    {
        // Add of a float and an int64: ORT's type check refuses the graph.
        var model = new TestModelWriter().Input("a", TensorElementType.Float, 2).Input("b", TensorElementType.Int64, 2)
            .Output("c", TensorElementType.Float, 2).Node("Add", ["a", "b"], ["c"], "bad_add").ToBytes();
        var e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(model));
        Assert.That(e!.OrtMessage, Does.Contain("bad_add").Or.Contain("Add"));
    }

    private static HostTensorSession AddSession() => HostTensorSession.FromBytes(new TestModelWriter()
        .Input("a", TensorElementType.Float, 2).Input("b", TensorElementType.Float, 2)
        .Output("c", TensorElementType.Float, 2).Node("Add", ["a", "b"], ["c"]).ToBytes());

    [Test]
    public void MissingInputListsExpectedInputs()
    {
        using var session = AddSession();
        var e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = HostTensor.FromFloats([1f, 2f], 2) }));
        Assert.That(e!.Message, Does.Contain("'b'").And.Contain("a: float[2]").And.Contain("b: float[2]"));
    }

    [Test]
    public void UnknownInputNameIsNamed()
    {
        using var session = AddSession();
        var two = HostTensor.FromFloats([1f, 2f], 2);
        var e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = two, ["b"] = two, ["q"] = two }));
        Assert.That(e!.Message, Does.Contain("no input 'q'"));
    }

    [Test]
    public void WrongElementTypeOrShapeIsNamed()
    {
        using var session = AddSession();
        var two = HostTensor.FromFloats([1f, 2f], 2);
        var e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = two, ["b"] = HostTensor.Zeros(TensorElementType.Int32, 2) }));
        Assert.That(e!.Message, Does.Contain("input 'b'").And.Contain("int32"));
        e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = two, ["b"] = HostTensor.Zeros(TensorElementType.Float, 3) }));
        Assert.That(e!.Message, Does.Contain("input 'b'").And.Contain("[3]"));
    }

    [Test]
    public void UnknownOutputNameIsNamed()
    {
        using var session = AddSession();
        var two = HostTensor.FromFloats([1f, 2f], 2);
        var e = Assert.Throws<ArgumentException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = two, ["b"] = two }, ["nope"]));
        Assert.That(e!.Message, Does.Contain("'nope'"));
    }

    [Test]
    public void OptionsAreApplied()
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = 1, InterOpNumThreads = 1,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, ExecutionMode = ExecutionMode.ORT_PARALLEL,
        };
        options.AddSessionConfigEntry("session.qdq_matmulnbits_accuracy_level", "0");
        using var session = HostTensorSession.FromBytes(new TestModelWriter().Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2).Node("Neg", ["x"], ["y"]).ToBytes(), options);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([1f, -2f], 2) })["y"];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(new[] { -1f, 2f }));

        Assert.Throws<ArgumentOutOfRangeException>(() => HostTensorSession.CreateOptions(-1));
    }

    [Test]
    public void DefaultOptionsRunMxModels()
    {
        // No options given: the session makes its own, with the MX ops (an MxQuantizeDequantize node loads and runs).
        var model = new TestModelWriter().Opset(Mx.Runtime.Ops.MxOps.DomainName, 1)
            .Input("x", TensorElementType.Float, 1, 32).Output("y", TensorElementType.Float, 1, 32)
            .Node("MxQuantizeDequantize", ["x"], ["y"], "qd", Mx.Runtime.Ops.MxOps.DomainName, ("format", "mxint8")).ToBytes();
        using var session = HostTensorSession.FromBytes(model);
        float[] x = Enumerable.Range(0, 32).Select(i => i / 4f).ToArray();
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats(x, 1, 32) })["y"];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(x), "multiples of 1/4 below 8 are exact in MXINT8");
    }

    [Test]
    public void DisposedSessionRefusesRun()
    {
        var session = AddSession();
        session.Dispose();
        var two = HostTensor.FromFloats([1f, 2f], 2);
        Assert.Throws<ObjectDisposedException>(() => session.Run(new Dictionary<string, HostTensor> { ["a"] = two, ["b"] = two }));
    }

    [Test]
    public void ConcurrentRunsOnOneSessionAreAllCorrect()
    {
        const int k = 64, n = 16;
        var w = RandomFloats(new Random(3), k, n);
        using var session = HostTensorSession.FromBytes(new TestModelWriter()
            .Input("x", TensorElementType.Float, 1, k).Output("y", TensorElementType.Float, 1, n)
            .Initializer("w", w).Node("MatMul", ["x", "w"], ["y"]).ToBytes());
        var ws = w.AsSpan<float>().ToArray();
        int failures = 0;
        var error = ConcurrentThreads.Run(4, t =>
        {
            var rng = new Random(100 + t);
            for (int r = 0; r < 50; r++)
            {
                var x = RandomFloats(rng, 1, k);
                var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x })["y"].AsSpan<float>();
                var xs = x.AsSpan<float>();
                for (int c = 0; c < n; c++)
                {
                    double sum = 0;
                    for (int i = 0; i < k; i++) sum += (double)xs[i] * ws[i * n + c];
                    if (Math.Abs(y[c] - sum) > 1e-4) Interlocked.Increment(ref failures);
                }
            }
        });
        Assert.That(error, Is.Null);
        Assert.That(failures, Is.Zero);
    }
}
