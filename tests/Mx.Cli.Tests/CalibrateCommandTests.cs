using Mx.Calibration.Recipes;
using Mx.Onnx;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary><c>mx calibrate</c> and <c>mx quantize --recipe / --auto</c> on the outlier MLP test model.</summary>
public class CalibrateCommandTests
{
    private static readonly string Mlp = TestPaths.TestModel("mlp_outliers.onnx");
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("mx-calibrate-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Mx(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Test]
    public void CalibrateThenQuantizeWithTheRecipe()
    {
        string recipe = Path.Combine(_dir, "r.json"), report = Path.Combine(_dir, "r.md"), output = Path.Combine(_dir, "q.onnx");
        var (code, stdout, stderr) = Mx("calibrate", Mlp, "--calib", "random", "-o", recipe, "--max-bits", "6", "--ocs", "0.02", "--report", report);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("random"));
        var r = RecipeJson.Load(recipe);
        Assert.That(r.RandomData, Is.True);
        Assert.That(r.AverageBits, Is.LessThanOrEqualTo(6));
        Assert.That(File.ReadAllText(report), Does.Contain("random data"));
        (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--recipe", recipe);
        Assert.That(code, Is.EqualTo(0), stderr);
        using var q = OnnxModel.Load(output);
        // The split fc1 weight now has more input channels than the original 128.
        if (r.Tensors.First(t => t.Name == "fc1.weight").Ocs != null)
            Assert.That(q.Proto.Graph.Node.Any(n => n.OpType == "Gather" || n.Input.Any(i => i.Contains("ocs"))), Is.True);
        Assert.That(stdout, Does.Contain("bits/weight"));
    }

    [Test]
    public void QuantizeAutoCalibratesInOneStep()
    {
        string output = Path.Combine(_dir, "q.onnx");
        var (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--auto", "--calib", "random", "--min-sqnr", "20", "--emit", "fake");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(output), Is.True);
    }

    [Test]
    public void ActivationFormatsAndSplitModeReachTheRecipeAndTheModel()
    {
        string recipe = Path.Combine(_dir, "r.json"), output = Path.Combine(_dir, "q.onnx");
        var (code, stdout, stderr) = Mx("calibrate", Mlp, "--calib", "random", "-o", recipe, "--max-bits", "6", "--ocs", "0.02", "--ocs-mode", "qa",
            "--act-max-bits", "8.5", "--act-candidates", "fp32,mxint8,mxfp6_e2m3");
        Assert.That(code, Is.EqualTo(0), stderr);
        var r = RecipeJson.Load(recipe);
        Assert.That(r.OcsMode, Is.EqualTo("qa"));
        Assert.That(r.ActAverageBits, Is.LessThanOrEqualTo(8.5));
        var quantized = r.Tensors.Where(t => t.Settings != null).ToList();
        Assert.That(quantized.All(t => t.Activation is { Chosen: true }), "every quantized weight's activation has a format");
        Assert.That(stdout, Does.Contain("activations"));
        (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--recipe", recipe, "--emit", "fake");
        Assert.That(code, Is.EqualTo(0), stderr);
        using var q = OnnxModel.Load(output);
        int expected = quantized.Count(t => t.Activation!.Settings != null);
        Assert.That(q.Proto.Graph.Node.Count(n => n.OpType == "MxQuantizeDequantize"), Is.EqualTo(expected));
    }

    [TestCase(new[] { "--ocs-mode", "half" }, "--ocs-mode")]
    [TestCase(new[] { "--act-max-bits", "-1" }, "--act-max-bits")]
    [TestCase(new[] { "--max-bits", "5", "--min-sqnr", "20" }, "exactly one")]
    [TestCase(new[] { "--candidates", "mxfp5" }, "unknown MX format")]
    [TestCase(new[] { "--max-bits", "1" }, "cheapest")]
    public void BadArgumentsGiveOneClearLine(string[] extra, string expected)
    {
        var args = new List<string> { "calibrate", Mlp, "--calib", "random", "-o", Path.Combine(_dir, "r.json") };
        args.AddRange(extra);
        if (!extra.Contains("--max-bits") && !extra.Contains("--min-sqnr")) args.AddRange(["--max-bits", "6"]);
        var (code, _, stderr) = Mx(args.ToArray());
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain(expected));
        Assert.That(File.Exists(Path.Combine(_dir, "r.json")), Is.False, "no recipe on failure");
    }

    [Test]
    public void MissingCalibFolderIsNamed()
    {
        var (code, _, stderr) = Mx("calibrate", Mlp, "--calib", Path.Combine(_dir, "nope"), "-o", Path.Combine(_dir, "r.json"), "--max-bits", "6");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("nope"));
    }
}
