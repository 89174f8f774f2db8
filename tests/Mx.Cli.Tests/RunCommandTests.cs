using Mx.Cli;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

public class RunCommandTests : CliTest
{
    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Sample <paramref name="index"/> of digits.npy as a [1,1,28,28] tensor.</summary>
    private static HostTensor Digit(HostTensor digits, int index)
    {
        const int pixels = 28 * 28;
        var one = HostTensor.Zeros(TensorElementType.Float, 1, 1, 28, 28);
        digits.AsSpan<float>().Slice(index * pixels, pixels).CopyTo(one.AsSpan<float>());
        return one;
    }

    [Test]
    public void MnistPredictionsMatchLabels()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        var digits = NpyFile.Read(TestPaths.Shared("calib", "mnist", "digits.npy"));
        var labels = NpyFile.Read(TestPaths.Shared("calib", "mnist", "labels.npy")).AsSpan<long>().ToArray();
        int correct = 0, runs = 0;
        var distinctScores = new HashSet<float>();
        for (int k = 0; k < 20; k++)
        {
            int index = k * 25 + 3; // spread over the 512 samples
            string input = Path.Combine(Dir, $"digit{index}.npy");
            NpyFile.Write(input, Digit(digits, index));
            string outDir = Path.Combine(Dir, $"out{index}");
            var (code, stdout, stderr) = Mx("run", model, "--input", $"Input3={input}", "--output-dir", outDir, "--threads", "1");
            Assert.That(code, Is.Zero, stderr);
            Assert.That(stderr, Is.Empty);
            var written = Directory.GetFiles(outDir, "*.npy");
            Assert.That(written, Has.Length.EqualTo(1));
            Assert.That(stdout, Does.Contain(written[0]));
            var scores = NpyFile.Read(written[0]);
            Assert.That(scores.Shape, Is.EqualTo(new long[] { 1, 10 }));
            var s = scores.AsSpan<float>();
            int argmax = 0;
            for (int c = 1; c < 10; c++) if (s[c] > s[argmax]) argmax = c;
            distinctScores.Add(s[0]);
            runs++;
            if (argmax == labels[index]) correct++;
        }
        // The model is 99.7% accurate: at most one miss in 20 is plausible. (labels.npy holds only class 0, so also
        // check that the scores depend on the input, i.e. the CLI really fed each digit.)
        Assert.That(correct, Is.GreaterThanOrEqualTo(runs - 1));
        Assert.That(distinctScores, Has.Count.GreaterThan(runs / 2));
    }

    [Test]
    public void MissingInputListsExpectedInputs()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        var (code, _, stderr) = Mx("run", model, "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("Input3: float[1, 1, 28, 28]"));
    }

    [Test]
    public void UnknownInputNameIsNamed()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        string input = Path.Combine(Dir, "x.npy");
        NpyFile.Write(input, HostTensor.Zeros(TensorElementType.Float, 1, 1, 28, 28));
        var (code, _, stderr) = Mx("run", model, "--input", $"Input3={input}", "--input", $"Bogus={input}", "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("'Bogus'").And.Contain("Input3"));
    }

    [Test]
    public void WrongDtypeOrShapeIsNamed()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        string ints = Path.Combine(Dir, "ints.npy");
        NpyFile.Write(ints, HostTensor.Zeros(TensorElementType.Int64, 1, 1, 28, 28));
        var (code, _, stderr) = Mx("run", model, "--input", $"Input3={ints}", "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("'Input3'").And.Contain("int64"));

        string wrongShape = Path.Combine(Dir, "shape.npy");
        NpyFile.Write(wrongShape, HostTensor.Zeros(TensorElementType.Float, 1, 28, 28));
        (code, _, stderr) = Mx("run", model, "--input", $"Input3={wrongShape}", "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("'Input3'").And.Contain("[1, 28, 28]"));
    }

    [Test]
    public void BadInputFileIsNamed()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        string bad = Path.Combine(Dir, "bad.npy");
        File.WriteAllText(bad, "not numpy");
        var (code, _, stderr) = Mx("run", model, "--input", $"Input3={bad}", "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain(bad));

        (code, _, stderr) = Mx("run", model, "--input", $"Input3={Path.Combine(Dir, "absent.npy")}", "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("absent.npy"));
    }

    [Test]
    public void BadModelFileIsNamed()
    {
        string model = Path.Combine(Dir, "broken.onnx");
        File.WriteAllBytes(model, [1, 2, 3, 4, 5, 6, 7]);
        var (code, _, stderr) = Mx("run", model, "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain(model));

        (code, _, stderr) = Mx("run", Path.Combine(Dir, "absent.onnx"), "--output-dir", Dir);
        Assert.That(code, Is.Not.Zero);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("absent.onnx"));
    }

    [Test]
    public void MalformedInputSpecIsAUsageError()
    {
        string model = TestPaths.Shared("models", "mnist", "model.onnx");
        var (code, _, stderr) = Mx("run", model, "--input", "Input3", "--output-dir", Dir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("NAME=FILE"));
    }

    [TestCase("logits", "logits")]
    [TestCase("a/b", "a_b")]
    [TestCase("x:0", "x_0")]
    [TestCase("..", "_..")]
    public void OutputNamesBecomeSafeFileNames(string name, string expected) =>
        Assert.That(Commands.RunCommand.SafeFileName(name), Is.EqualTo(expected));

    [Test]
    public void DeviceCuda_WithoutCudaHere_FailsWithOneClearLine()
    {
        if (Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider") && global::Mx.Runtime.Cuda.CudaBackend.TryGetAvailability(out _))
            Assert.Ignore("CUDA is available here");
        string input = Path.Combine(Dir, "x.npy");
        NpyFile.Write(input, HostTensor.FromFloats(new float[2 * 8 * 64], 2, 8, 64));
        var (code, stdout, stderr) = Mx("run", TestPaths.TestModel("transformer_block.onnx"), "--input", $"x={input}", "--output-dir", Dir, "--device", "cuda");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stdout, Is.Empty);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        // This build runs the CPU package, so the missing CUDA execution provider is named, with where the CUDA build is.
        Assert.That(stderr, Does.StartWith("mx run: --device cuda: ").And.Contain("CUDA execution provider").And.Contain("docs/cuda.md"));
    }
}
