using Mx.Onnx.Proto;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

public class QuantizeCommandTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "mx-cli-quant-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void QuantizesAndPrintsOneSummaryLine()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx");
        string output = Path.Combine(_dir, "q.onnx");
        var (code, stdout, stderr) = Run("quantize", input, "-o", output, "--format", "mxint8", "--exclude", "^fc2");
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
        var (code, stdout, stderr) = Run("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", Path.Combine(_dir, "q.onnx"), "--emit", "qdq");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("cannot run it"));
    }

    [Test]
    public void MissingInputIsOneLineErrorAndWritesNothing()
    {
        string output = Path.Combine(_dir, "q.onnx");
        var (code, _, stderr) = Run("quantize", Path.Combine(_dir, "missing.onnx"), "-o", output);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("missing.onnx"));
        Assert.That(Directory.GetFiles(_dir), Is.Empty);
    }

    [Test]
    public void NonOnnxInputIsOneLineErrorAndWritesNothing()
    {
        string input = Path.Combine(_dir, "junk.onnx");
        File.WriteAllText(input, "this is not a model");
        var (code, _, stderr) = Run("quantize", input, "-o", Path.Combine(_dir, "q.onnx"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.StartWith("mx quantize:").And.Contain("junk.onnx"));
        Assert.That(stderr.TrimEnd().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { input }));
    }

    [Test]
    public void UnexpressibleQdqFormatIsAClearErrorAndWritesNothing()
    {
        string output = Path.Combine(_dir, "q.onnx");
        var (code, _, stderr) = Run("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", output, "--emit", "qdq", "--format", "mxfp6_e2m3");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("mxfp6_e2m3").And.Contain("DequantizeLinear"));
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void AlreadyQuantizedNeedsForce()
    {
        string once = Path.Combine(_dir, "once.onnx"), twice = Path.Combine(_dir, "twice.onnx");
        Assert.That(Run("quantize", TestPaths.TestModel("mlp_outliers.onnx"), "-o", once).Code, Is.Zero);
        var (code, _, stderr) = Run("quantize", once, "-o", twice);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("already quantized").And.Contain("--force"));
        Assert.That(File.Exists(twice), Is.False);
        Assert.That(Run("quantize", once, "-o", twice, "--force").Code, Is.Zero);
    }

    [Test]
    public void BadOptionsAreUsageErrors()
    {
        string input = TestPaths.TestModel("mlp_outliers.onnx"), output = Path.Combine(_dir, "q.onnx");
        Assert.That(Run("quantize", input, "-o", output, "--format", "mxfp3").Code, Is.EqualTo(2));
        Assert.That(Run("quantize", input, "-o", output, "--ops", "LSTM").Code, Is.EqualTo(2));
        Assert.That(Run("quantize", input, "-o", output, "--exclude", "(").Code, Is.EqualTo(2));
        Assert.That(Run("quantize", input, "-o", input).Code, Is.EqualTo(2));
        Assert.That(File.Exists(output), Is.False);
    }
}
