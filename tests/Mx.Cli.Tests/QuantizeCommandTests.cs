using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

public class QuantizeCommandTests : CliTest
{
    [Test]
    public void QuantizesAndPrintsOneSummaryLine()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx");
        string output = Path.Combine(Dir, "q.onnx");
        var (code, stdout, stderr) = Mx("quantize", input, "-o", output, "--format", "mxint8", "--exclude", "^fc2");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stdout, Does.Contain("1 weights quantized to mxint8 (packed)").And.Contain("1 skipped"));
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        Assert.That(proto.MetadataProps.Select(p => p.Key), Does.Contain("mx.quantization").And.Contain("mx.tool"));
        Assert.That(proto.Graph.Node.Count(n => n.OpType == "MxMatMul"), Is.EqualTo(1));
        Assert.That(new FileInfo(output).Length, Is.LessThan(new FileInfo(input).Length));
    }

    [Test]
    public void QdqMxfp4SummarySaysOrtCannotRunIt()
    {
        var (code, stdout, stderr) = Mx("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", Path.Combine(Dir, "q.onnx"), "--emit", "qdq");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("cannot run it"));
    }

    [Test]
    public void MissingInputIsOneLineErrorAndWritesNothing()
    {
        string output = Path.Combine(Dir, "q.onnx");
        var (code, _, stderr) = Mx("quantize", Path.Combine(Dir, "missing.onnx"), "-o", output);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("missing.onnx"));
        Assert.That(Directory.GetFiles(Dir), Is.Empty);
    }

    [Test]
    public void NonOnnxInputIsOneLineErrorAndWritesNothing()
    {
        string input = Path.Combine(Dir, "junk.onnx");
        File.WriteAllText(input, "this is not a model");
        var (code, _, stderr) = Mx("quantize", input, "-o", Path.Combine(Dir, "q.onnx"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.StartWith("mx quantize:").And.Contain("junk.onnx"));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(Directory.GetFiles(Dir), Is.EqualTo(new[] { input }));
    }

    [Test]
    public void UnexpressibleQdqFormatIsAClearErrorAndWritesNothing()
    {
        string output = Path.Combine(Dir, "q.onnx");
        var (code, _, stderr) = Mx("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", output, "--emit", "qdq", "--format", "mxfp6_e2m3");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("mxfp6_e2m3").And.Contain("DequantizeLinear"));
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void AlreadyQuantizedNeedsForce()
    {
        string once = Path.Combine(Dir, "once.onnx"), twice = Path.Combine(Dir, "twice.onnx");
        Assert.That(Mx("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", once).Code, Is.Zero);
        var (code, _, stderr) = Mx("quantize", once, "-o", twice);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("already quantized").And.Contain("--force"));
        Assert.That(File.Exists(twice), Is.False);
        Assert.That(Mx("quantize", once, "-o", twice, "--force").Code, Is.Zero);
    }

    [Test]
    public void BadOptionsAreUsageErrors()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx"), output = Path.Combine(Dir, "q.onnx");
        Assert.That(Mx("quantize", input, "-o", output, "--format", "mxfp3").Code, Is.EqualTo(2));
        Assert.That(Mx("quantize", input, "-o", output, "--ops", "LSTM").Code, Is.EqualTo(2));
        Assert.That(Mx("quantize", input, "-o", output, "--exclude", "(").Code, Is.EqualTo(2));
        Assert.That(Mx("quantize", input, "-o", input).Code, Is.EqualTo(2));
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void EmitMatMulNBits_WritesOrtsFourBitOp_ThatMxRunRuns()
    {
        string input = TestPaths.TestModel("transformer_block.onnx"), output = Path.Combine(Dir, "nbits.onnx");
        var (code, stdout, stderr) = Mx("quantize", input, "-o", output, "--emit", "matmulnbits", "--accuracy-level", "0", "--zero-points");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("quantized to int4 MatMulNBits accuracy_level 0 (matmulnbits)"));
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        var nodes = proto.Graph.Node.Where(n => n.OpType == "MatMulNBits").ToList();
        Assert.That(nodes, Has.Count.EqualTo(7), "q, k, v, o, w1, w3, w2");
        Assert.That(nodes.All(n => n.Domain == "com.microsoft" && n.Input.Count == 4 && n.Attribute.Single(a => a.Name == "accuracy_level").I == 0));
        Assert.That(proto.OpsetImport.Any(o => o.Domain == "com.microsoft"));

        // mx run executes it (through ONNX Runtime's own kernel) with the shapes of the original.
        string x = Path.Combine(Dir, "x.npy");
        NpyFile.Write(x, HostTensor.FromFloats(Enumerable.Range(0, 3 * 64).Select(i => MathF.Sin(i)).ToArray(), 1, 3, 64));
        var run = Mx("run", output, "--input", $"x={x}", "--output-dir", Path.Combine(Dir, "out"), "--threads", "1");
        Assert.That(run.Code, Is.Zero, run.Err);
        Assert.That(NpyFile.Read(Path.Combine(Dir, "out", "y.npy")).Shape, Is.EqualTo(new long[] { 1, 3, 64 }));
    }

    [Test]
    public void MatMulNBitsOptions_DoNotMixWithMxOptions()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx"), output = Path.Combine(Dir, "q.onnx");
        var (code, _, stderr) = Mx("quantize", input, "-o", output, "--emit", "matmulnbits", "--format", "mxfp8_e4m3");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--format").And.Contain("4-bit integer blocks"));
        (code, _, stderr) = Mx("quantize", input, "-o", output, "--accuracy-level", "0");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--accuracy-level applies to --emit matmulnbits only"));
        (code, _, stderr) = Mx("quantize", input, "-o", output, "--emit", "matmulnbits", "--act-format", "mxint8");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("--act-format"));
        Assert.That(File.Exists(output), Is.False);
    }
}
