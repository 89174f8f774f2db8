using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ort;

/// <summary>
/// Custom ops defined here, in the tests (not product ops), run through ORT: attributes, an optional constant input
/// read at kernel creation, ParallelFor, errors at compute and at creation, concurrent runs.
/// </summary>
public class CustomOpTests
{
    private const string Domain = "mx.test";

    /// <summary>y = alpha·x + b: alpha a float attribute (default 1), b an optional input, read once at creation when constant.</summary>
    private sealed class ScaleKernel : ICustomKernel
    {
        private readonly float _alpha;
        private readonly float[]? _constantB; // null: b absent or not constant (then read at compute)
        private readonly long _blockRows;

        public ScaleKernel(KernelInfo info)
        {
            _alpha = info.GetFloat("alpha", 1f);
            _blockRows = info.GetInt("block", 2);
            _constantB = info.GetConstantInputCopy(1)?.AsSpan<float>().ToArray();
            CreatedWithConstant = _constantB != null;
        }

        public bool CreatedWithConstant { get; }

        public unsafe void Compute(KernelContext context)
        {
            var x = context.Input(0);
            var bInput = context.Input(1);
            float[]? b = _constantB ?? (bInput.IsPresent ? bInput.AsReadOnlySpan<float>().ToArray() : null);
            if (b != null && b.Length != 1 && b.Length != x.Shape[^1])
                throw new InvalidOperationException($"b has {b.Length} values, x rows have {x.Shape[^1]}");
            var y = context.Output(0, x.Shape);
            float* xs = x.Pointer<float>(), ys = y.Pointer<float>();
            long cols = x.Shape.Length == 0 ? 1 : x.Shape[^1];
            long rows = cols == 0 ? 0 : x.ElementCount / cols;
            int blocks = (int)((rows + _blockRows - 1) / _blockRows);
            float alpha = _alpha;
            long blockRows = _blockRows;
            Interlocked.Increment(ref s_computes);
            context.For(blocks, blk =>
            {
                Interlocked.Increment(ref s_parallelBodies);
                for (long r = blk * blockRows; r < Math.Min(rows, (blk + 1) * blockRows); r++)
                    for (long c = 0; c < cols; c++)
                        ys[r * cols + c] = alpha * xs[r * cols + c] + (b is null ? 0 : b[b.Length == 1 ? 0 : c]);
            });
        }
    }

    private static int s_computes;
    private static int s_parallelBodies;
    private static readonly List<ScaleKernel> s_created = [];

    private static readonly CustomOpDefinition Scale = new("Scale",
        [new(TensorElementType.Float), new(TensorElementType.Float, CustomOpArity.Optional)],
        [new(TensorElementType.Float)],
        info =>
        {
            var k = new ScaleKernel(info);
            lock (s_created) s_created.Add(k);
            return k;
        });

    private static readonly CustomOpDefinition Throws = new("Throws",
        [new(TensorElementType.Float)], [new(TensorElementType.Float)],
        _ => new ThrowingKernel());

    private static readonly CustomOpDefinition NeedsMode = new("NeedsMode",
        [new(TensorElementType.Float)], [new(TensorElementType.Float)],
        info => info.GetString("mode") == "fast" ? new ThrowingKernel() : throw new ArgumentException("mode must be 'fast'"));

    private static readonly CustomOpDefinition Attributes = new("Attributes",
        [new(TensorElementType.Float)], [new(TensorElementType.Float)],
        info => new ConstantKernel(info));

    private static readonly CustomOpDefinition ParallelThrows = new("ParallelThrows",
        [new(TensorElementType.Float)], [new(TensorElementType.Float)],
        _ => new ParallelThrowingKernel());

    private static readonly Lazy<CustomOpDomain> TestDomain = new(() => new CustomOpDomain(Domain, Scale, Throws, NeedsMode, Attributes, ParallelThrows));

    private sealed class ThrowingKernel : ICustomKernel
    {
        public void Compute(KernelContext context) => throw new InvalidOperationException("deliberate failure in compute");
    }

    private sealed class ParallelThrowingKernel : ICustomKernel
    {
        public void Compute(KernelContext context) =>
            context.For(8, i => { if (i == 5) throw new InvalidOperationException("index five refused"); });
    }

    /// <summary>Writes every attribute it read (in a fixed order) into its output, so the test can compare with what the model says.</summary>
    private sealed class ConstantKernel(KernelInfo info) : ICustomKernel
    {
        private readonly float[] _values =
        [
            info.GetFloat("f"), info.GetInt("i"), info.GetString("s").Length, .. info.GetInts("ints").Select(v => (float)v),
            .. info.GetFloats("floats"), info.GetFloat("absent_f", -1f), info.GetInt("absent_i", -2), info.GetString("absent_s", "xyz").Length,
            info.TryGetFloats("absent_fs", out _) ? 1 : 0, info.GetInts("absent_is", [7, 8]).Sum(), info.NodeName.Length,
            info.InputCount, info.OutputCount,
        ];

        public void Compute(KernelContext context) => _values.CopyTo(context.Output<float>(0, [_values.Length]));
    }

    // Sessions copy what they need from their options; each test's options object is left to the GC.
    private static SessionOptions Options(int? threads = null)
    {
        var o = new SessionOptions { IntraOpNumThreads = threads ?? 0, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        TestDomain.Value.AddTo(o);
        return o;
    }

    private static byte[] ScaleModel(float alpha, HostTensor? constantB, bool dynamicB = false)
    {
        var m = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, "rows", 5).Output("y", TensorElementType.Float, "rows", 5);
        string b = "";
        if (constantB != null)
        {
            m.Initializer("b", constantB);
            b = "b";
        }
        else if (dynamicB)
        {
            m.Input("b", TensorElementType.Float, 5);
            b = "b";
        }
        return m.Node("Scale", b.Length > 0 ? ["x", b] : ["x"], ["y"], "scale0", Domain, ("alpha", alpha)).ToBytes();
    }

    private static HostTensor Rows(int rows, int seed)
    {
        var rng = new Random(seed);
        var t = HostTensor.Zeros(TensorElementType.Float, rows, 5);
        var s = t.AsSpan<float>();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 4 - 2);
        return t;
    }

    private static float[] Reference(HostTensor x, float alpha, float[]? b)
    {
        var xs = x.AsSpan<float>();
        var y = new float[xs.Length];
        for (int i = 0; i < y.Length; i++) y[i] = alpha * xs[i] + (b is null ? 0 : b[i % 5]);
        return y;
    }

    [Test]
    public void ScaleWithConstantBiasMatchesReferenceAndReadsConstantAtCreation()
    {
        float[] b = [0.5f, -1f, 2f, 0f, 3.25f];
        int before;
        lock (s_created) before = s_created.Count;
        using var session = HostTensorSession.FromBytes(ScaleModel(1.5f, HostTensor.FromFloats(b, 5)), Options(threads: 2));
        lock (s_created)
        {
            Assert.That(s_created.Count, Is.GreaterThan(before));
            Assert.That(s_created[^1].CreatedWithConstant, Is.True);
        }
        int bodies = Volatile.Read(ref s_parallelBodies);
        var x = Rows(7, 1);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x })["y"];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 7, 5 }));
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(Reference(x, 1.5f, b)));
        // 7 rows in blocks of 2: four loop bodies ran through ParallelFor (other tests may add more concurrently).
        Assert.That(Volatile.Read(ref s_parallelBodies) - bodies, Is.GreaterThanOrEqualTo(4));
    }

    [Test]
    public void ScaleWithoutOptionalInputUsesDefaults()
    {
        using var session = HostTensorSession.FromBytes(ScaleModel(-2f, null), Options());
        var x = Rows(3, 2);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x })["y"];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(Reference(x, -2f, null)));
    }

    [Test]
    public void ScaleWithNonConstantBiasReadsItAtCompute()
    {
        using var session = HostTensorSession.FromBytes(ScaleModel(0.25f, null, dynamicB: true), Options());
        lock (s_created) Assert.That(s_created[^1].CreatedWithConstant, Is.False);
        float[] b = [1f, 2f, 3f, 4f, 5f];
        var x = Rows(4, 3);
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x, ["b"] = HostTensor.FromFloats(b, 5) })["y"];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(Reference(x, 0.25f, b)));
    }

    [Test]
    public void AttributesOfEveryKindAreRead()
    {
        var model = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, 1).Output("y", TensorElementType.Float, new object?[] { null })
            .Node("Attributes", ["x"], ["y"], "attr_node", Domain,
                ("f", 2.5f), ("i", 42L), ("s", "héllo"), ("ints", new long[] { 3, -4 }), ("floats", new[] { 0.5f, 1.5f, -7f })).ToBytes();
        using var session = HostTensorSession.FromBytes(model, Options());
        var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([0f], 1) })["y"];
        float[] expected = [2.5f, 42f, "héllo".Length, 3f, -4f, 0.5f, 1.5f, -7f, -1f, -2f, 3f, 0f, 15f, "attr_node".Length, 1f, 1f];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void KernelThatThrowsAtComputeGivesOrtErrorNamingNode()
    {
        var model = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2)
            .Node("Throws", ["x"], ["y"], "bad_node", Domain).ToBytes();
        using var session = HostTensorSession.FromBytes(model, Options());
        var input = new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([1f, 2f], 2) };
        var e = Assert.Throws<OrtException>(() => session.Run(input));
        Assert.That(e!.Message, Does.Contain("bad_node").And.Contain("deliberate failure in compute").And.Contain("mx.test.Throws"));
        // The process and the session survive: the same error again.
        Assert.Throws<OrtException>(() => session.Run(input));
    }

    [Test]
    public void ExceptionInParallelBodyBecomesOrtError()
    {
        var model = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2)
            .Node("ParallelThrows", ["x"], ["y"], "par_node", Domain).ToBytes();
        using var session = HostTensorSession.FromBytes(model, Options(threads: 2));
        var e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats([1f, 2f], 2) }));
        Assert.That(e!.Message, Does.Contain("par_node").And.Contain("index five refused"));
    }

    [Test]
    public void KernelCreationFailureFailsSessionCreationWithMessage()
    {
        var wrongMode = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2)
            .Node("NeedsMode", ["x"], ["y"], "mode_node", Domain, ("mode", "slow")).ToBytes();
        var e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(wrongMode, Options()));
        Assert.That(e!.Message, Does.Contain("mode_node").And.Contain("mode must be 'fast'"));

        var noMode = new TestModelWriter().Opset(Domain, 1)
            .Input("x", TensorElementType.Float, 2).Output("y", TensorElementType.Float, 2)
            .Node("NeedsMode", ["x"], ["y"], "no_mode_node", Domain).ToBytes();
        e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(noMode, Options()));
        Assert.That(e!.Message, Does.Contain("no_mode_node").And.Contain("'mode'"));
    }

    [Test]
    public void ConcurrentRunsShareTheKernelCorrectly()
    {
        float[] b = [1f, -1f, 0.5f, 0f, 2f];
        using var session = HostTensorSession.FromBytes(ScaleModel(3f, HostTensor.FromFloats(b, 5)), Options(threads: 2));
        int wrong = 0;
        var error = ConcurrentThreads.Run(4, t =>
        {
            for (int r = 0; r < 50; r++)
            {
                var x = Rows(1 + (r + t) % 9, 1000 * t + r);
                var y = session.Run(new Dictionary<string, HostTensor> { ["x"] = x })["y"];
                if (!y.AsSpan<float>().SequenceEqual(Reference(x, 3f, b))) Interlocked.Increment(ref wrong);
            }
        });
        Assert.That(error, Is.Null);
        Assert.That(wrong, Is.Zero);
    }

    [Test]
    public void DefinitionRejectsVariadicBeforeLast() =>
        Assert.Throws<ArgumentException>(() => new CustomOpDefinition("V",
            [new(TensorElementType.Float, CustomOpArity.Variadic), new(TensorElementType.Float)], [new(TensorElementType.Float)], _ => new ThrowingKernel()));

    [Test]
    public void OpCannotJoinTwoDomains()
    {
        var op = new CustomOpDefinition("Lonely", [new(TensorElementType.Float)], [new(TensorElementType.Float)], _ => new ThrowingKernel());
        _ = new CustomOpDomain("mx.test.a", op);
        Assert.Throws<InvalidOperationException>(() => new CustomOpDomain("mx.test.b", op));
    }

    [Test]
    public void SerialForVisitsEveryIndexOnce()
    {
        var seen = new int[10];
        Mx.Runtime.Kernels.SerialRunner.Instance.For(10, i => seen[i]++);
        Assert.That(seen, Is.All.EqualTo(1));
    }
}
