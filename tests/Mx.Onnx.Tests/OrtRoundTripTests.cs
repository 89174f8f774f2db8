using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Runtime.Ort;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

/// <summary>
/// Models run in ONNX Runtime: the same outputs before and after our load → save → load, and the known-good
/// references that ship with the shared models (SqueezeNet's test data sets, stories260K's reference logits).
/// </summary>
public class OrtRoundTripTests
{
    /// <summary>Concrete shapes for inputs whose dimensions are symbolic, per shared model folder.</summary>
    private static readonly Dictionary<string, Dictionary<string, long[]>> ShapeOverrides = new()
    {
        ["ppocr-cls"] = new() { ["x"] = [1, 3, 48, 192] },
        ["stories260K"] = new() { ["input_ids"] = [1, 8] },
        ["silero-vad"] = new() { ["input"] = [1, 576] },
    };

    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.All))]
    public void OrtOutputsAreIdenticalAfterLoadSaveLoad(string path)
    {
        using var tmp = new TempFolder();
        string saved = tmp.File("model.onnx");
        using (var model = OnnxModel.Load(path))
            model.Save(saved);
        using (var reloaded = OnnxModel.Load(saved))
            Assert.That(reloaded.Graph.Proto.Node, Is.Not.Empty);

        using var before = HostTensorSession.FromFile(path);
        using var after = HostTensorSession.FromFile(saved);
        Assert.That(after.Inputs.Select(i => i.ToString()), Is.EqualTo(before.Inputs.Select(i => i.ToString())));
        Assert.That(after.Outputs.Select(o => o.ToString()), Is.EqualTo(before.Outputs.Select(o => o.ToString())));

        var inputs = MakeInputs(before.Inputs, ModelFolderName(path), seed: 7);
        var expected = before.Run(inputs);
        var actual = after.Run(inputs);
        Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (name, e) in expected)
        {
            Assert.That(actual[name].Shape, Is.EqualTo(e.Shape), name);
            Assert.That(actual[name].Data, Is.EqualTo(e.Data), $"output {name} differs after the round trip");
        }
    }

    [TestCase(0), TestCase(1), TestCase(2)]
    public void SqueezeNetReproducesItsTestDataSets(int set)
    {
        string dir = TestPaths.Shared("models", "squeezenet1.1", $"test_data_set_{set}");
        var input = ReadTensorFile(Path.Combine(dir, "input_0.pb"));
        var reference = ReadTensorFile(Path.Combine(dir, "output_0.pb"));

        using var model = OnnxModel.Load(TestPaths.Shared("models", "squeezenet1.1", "model.onnx"));
        using var session = HostTensorSession.FromBytes(model.ToBytes());
        var output = session.Run(new Dictionary<string, HostTensor> { [session.Inputs[0].Name] = input })[session.Outputs[0].Name];

        Assert.That(output.Shape, Is.EqualTo(reference.Shape));
        float[] got = output.ToFloatArray(), want = reference.ToFloatArray();
        double maxAbs = want.Max(Math.Abs);
        double maxErr = got.Zip(want, (g, w) => Math.Abs(g - w)).Max();
        // The manifest records ORT matching these to 1.7e-4; allow a little more for other CPUs' summation order.
        Assert.That(maxErr, Is.LessThan(1e-3), $"max abs error {maxErr:G3} (outputs up to {maxAbs:G3})");
        Assert.That(ArgMax(got), Is.EqualTo(ArgMax(want)));
    }

    [Test]
    public void Stories260KReproducesReferenceLogits()
    {
        var tokens = NpyFile.Read(TestPaths.Shared("models", "stories260K", "greedy_tokens.npy"));
        var reference = NpyFile.Read(TestPaths.Shared("models", "stories260K", "greedy_logits_ref.npy"));
        long t = tokens.ElementCount;
        var ids = HostTensor.Zeros(TensorElementType.Int64, 1, t);
        for (int i = 0; i < t; i++) ids.AsSpan<long>()[i] = tokens.ElementType == TensorElementType.Int64 ? tokens.AsSpan<long>()[i] : tokens.AsSpan<int>()[i];

        using var model = OnnxModel.Load(TestPaths.Shared("models", "stories260K", "model.onnx"));
        using var session = HostTensorSession.FromBytes(model.ToBytes());
        var logits = session.Run(new Dictionary<string, HostTensor> { ["input_ids"] = ids })["logits"];

        Assert.That(logits.ElementCount, Is.EqualTo(reference.ElementCount));
        float[] got = logits.ToFloatArray(), want = reference.ToFloatArray();
        double maxErr = got.Zip(want, (g, w) => Math.Abs(g - w)).Max();
        Assert.That(maxErr, Is.LessThan(1e-3), $"max abs error {maxErr:G3} against the independent implementation (recorded 4.4e-5)");
        // Greedy decoding: token i+1 is the argmax of the logits at position i.
        int vocab = (int)reference.Shape[^1];
        for (int i = 0; i + 1 < t; i++)
            Assert.That(ArgMax(got.AsSpan(i * vocab, vocab)), Is.EqualTo(ids.AsSpan<long>()[i + 1]), $"position {i}");
    }

    [Test]
    public void AnOpFromAnUnknownDomainIsAClearError()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var node = model.Proto.Graph.Node.First(n => n.OpType == "MatMul");
        node.Domain = "com.example.unknown";
        model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example.unknown", Version = 1 });
        var ex = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(model.ToBytes()).Dispose());
        Assert.That(ex!.Message, Does.Contain("com.example.unknown").Or.Contain("MatMul"), ex.Message);
    }

    private static HostTensor ReadTensorFile(string path) =>
        TensorReader.ToHostTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(path)), null);

    private static string ModelFolderName(string path) => Path.GetFileName(Path.GetDirectoryName(path)!);

    /// <summary>Deterministic inputs for a session: symbolic dimensions become 1 (or the override); floats in [−1, 1);
    /// integers in [0, 256) (valid token ids and byte values); an int64 scalar named <c>sr</c> is a sample rate.</summary>
    internal static Dictionary<string, HostTensor> MakeInputs(IReadOnlyList<OrtTensorInfo> infos, string folder, int seed)
    {
        var rng = new Random(seed);
        var result = new Dictionary<string, HostTensor>();
        foreach (var info in infos)
        {
            long[] shape = ShapeOverrides.TryGetValue(folder, out var o) && o.TryGetValue(info.Name, out var s)
                ? s
                : info.Shape.Select(d => d < 0 ? 1L : d).ToArray();
            var t = HostTensor.Zeros(info.ElementType, shape);
            switch (info.ElementType)
            {
                case TensorElementType.Float:
                    foreach (ref float v in t.AsSpan<float>()) v = (float)(rng.NextDouble() * 2 - 1);
                    break;
                case TensorElementType.Int64:
                    foreach (ref long v in t.AsSpan<long>()) v = info.Name == "sr" ? 16000 : rng.Next(256);
                    break;
                case TensorElementType.Int32:
                    foreach (ref int v in t.AsSpan<int>()) v = rng.Next(256);
                    break;
                default:
                    Assert.Inconclusive($"no input generator for {info}");
                    break;
            }
            result[info.Name] = t;
        }
        return result;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
