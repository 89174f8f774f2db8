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

    // The options users expect of a calibrator: exclusions by node and pattern, --strict, --seed, --max-size, recipe reuse.

    private static string NodeReading(string weight)
    {
        using var model = OnnxModel.Load(Mlp);
        return model.Proto.Graph.Node.First(n => n.Input.Contains(weight)).Name;
    }

    [Test]
    public void ExcludedNodesAndPatternsStayFloat32AndUnmatchedOnesAreReported()
    {
        string recipe = Path.Combine(_dir, "r.json"), output = Path.Combine(_dir, "q.onnx");
        string node = NodeReading("fc1.weight");
        var (code, _, stderr) = Mx("calibrate", Mlp, "--calib", "random", "-o", recipe, "--max-bits", "6", "--nodes-to-exclude", $"{node},no_such_node",
            "--exclude", "^fc2\\.", "--exclude", "^nothing$");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("no_such_node"));
        Assert.That(stderr, Does.Contain("^nothing$"));
        var r = RecipeJson.Load(recipe);
        Assert.That(r.Excluded.Select(e => e.Name), Is.EquivalentTo(new[] { "fc1.weight", "fc2.weight" }));
        Assert.That(r.Tensors.Select(t => t.Name), Has.None.AnyOf("fc1.weight", "fc2.weight"));
        (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--recipe", recipe);
        Assert.That(code, Is.EqualTo(0), stderr);
        using var q = OnnxModel.Load(output);
        Assert.That(q.FindInitializer("fc1.weight"), Is.Not.Null, "an excluded weight is left as it was");
        Assert.That(q.FindInitializer("fc2.weight"), Is.Not.Null);
    }

    [Test]
    public void StrictMakesAnUnmatchedPatternAnError()
    {
        string recipe = Path.Combine(_dir, "r.json");
        var (code, _, stderr) = Mx("calibrate", Mlp, "--calib", "random", "-o", recipe, "--max-bits", "6", "--nodes-to-exclude", "no_such_node", "--strict");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(stderr, Does.Contain("--strict").And.Contain("no_such_node"));
        Assert.That(File.Exists(recipe), Is.False);
    }

    [Test]
    public void SameSeedSameRecipe()
    {
        string a = Path.Combine(_dir, "a.json"), b = Path.Combine(_dir, "b.json");
        foreach (string path in new[] { a, b })
        {
            var (code, _, stderr) = Mx("calibrate", Mlp, "--calib", "random", "-o", path, "--max-bits", "5", "--seed", "7", "--rows-per-sample", "4");
            Assert.That(code, Is.EqualTo(0), stderr);
        }
        string Strip(string path) => RecipeJson.ToJson(RecipeJson.Load(path) with { Cost = null });
        Assert.That(Strip(a), Is.EqualTo(Strip(b)));
    }

    [Test]
    public void MaxSizeBoundsTheQuantizedFile()
    {
        string output = Path.Combine(_dir, "q.onnx");
        long original = new FileInfo(Mlp).Length;
        long cap = original / 4;
        var (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--auto", "--calib", "random", "--max-size", cap.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(code, Is.EqualTo(0), stderr);
        long size = new FileInfo(output).Length;
        TestContext.Out.WriteLine($"original {original} bytes, cap {cap}, quantized {size}");
        // The packed model also carries metadata and op attributes the cap does not count; allow them 2 KiB.
        Assert.That(size, Is.LessThanOrEqualTo(cap + 2048));
    }

    [Test]
    public void AutoReusesAMatchingRecipeAndRedoesAStaleOne()
    {
        string recipe = Path.Combine(_dir, "r.json"), output = Path.Combine(_dir, "q.onnx");
        string[] args = ["quantize", Mlp, "-o", output, "--auto", "--calib", "random", "--max-bits", "6", "--recipe", recipe];
        var (code, _, stderr) = Mx(args);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(recipe), Is.True);
        string first = File.ReadAllText(recipe);
        (code, _, stderr) = Mx(args);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("reusing"));
        Assert.That(File.ReadAllText(recipe), Is.EqualTo(first), "a reused recipe is not rewritten");
        (code, _, stderr) = Mx("quantize", Mlp, "-o", output, "--auto", "--calib", "random", "--max-bits", "5", "--recipe", recipe);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("calibrating again"));
    }
}
