using Mx.Onnx.Proto;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary><c>mx quantize --layout kmajor</c> with pruning, a sparse threshold and channel reordering, through the CLI.</summary>
public class SparseQuantizeCommandTests : CliTest
{
    [Test]
    public void KMajorWithPruningThresholdAndReorderingWritesAModelThatRuns()
    {
        string output = TempPath("k.onnx");
        var (code, stdout, stderr) = Mx("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", output, "--layout", "kmajor",
            "--prune-blocks", "0.25", "--sparse-threshold", "0.01", "--reorder-channels", "--calib", "random");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stderr, Does.Contain("permutable MLP"));
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        var nodes = proto.Graph.Node.Where(n => n.OpType == "MxMatMul").ToList();
        Assert.That(nodes, Has.Count.EqualTo(2));
        foreach (var n in nodes)
        {
            Assert.That(n.Attribute.Single(a => a.Name == "layout").S.ToStringUtf8(), Is.EqualTo("kmajor"));
            Assert.That(n.Attribute.Single(a => a.Name == "sparse_threshold").F, Is.EqualTo(0.01f));
            Assert.That(n.Input, Has.Count.EqualTo(6), "a tile mask: pruned tiles are not stored");
        }
        // The quantized model runs in ONNX Runtime through the CLI.
        string x = TempPath("x.npy");
        global::Mx.Runtime.IO.NpyFile.Write(x, global::Mx.Runtime.HostTensor.FromFloats(Enumerable.Range(0, 2 * 128).Select(i => MathF.Sin(i)).ToArray(), 2, 128));
        var run = Mx("run", output, "--input", $"x={x}", "--output-dir", Path.Combine(Dir, "out"));
        Assert.That(run.Code, Is.Zero, run.Err);
        Assert.That(File.Exists(Path.Combine(Dir, "out", "y.npy")), Is.True);
    }

    [Test]
    public void PruningWithCalibrationDataIsWeightedByTheInputs()
    {
        string output = TempPath("p.onnx");
        var (code, _, stderr) = Mx("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", output, "--layout", "kmajor", "--prune-blocks", "0.3", "--calib", "random");
        Assert.That(code, Is.Zero, stderr);
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        string meta = proto.MetadataProps.Single(p => p.Key == "mx.quantization").Value;
        Assert.That(meta, Does.Contain("E[x²] (calibration)"));
    }

    [TestCase("--prune-blocks", "0.2", "needs --layout kmajor")]
    [TestCase("--sparse-threshold", "0.1", "needs --layout kmajor")]
    [TestCase("--reorder-channels", null, "needs --calib")]
    public void SparseOptionsWithoutTheirPrerequisitesAreOneLineErrors(string option, string? value, string message)
    {
        string[] args = value == null
            ? ["quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", TempPath("q.onnx"), option]
            : ["quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", TempPath("q.onnx"), option, value];
        var (code, _, stderr) = Mx(args);
        Assert.That(code, Is.Not.Zero);
        Assert.That(stderr, Does.Contain(message));
        Assert.That(File.Exists(TempPath("q.onnx")), Is.False);
    }
}
