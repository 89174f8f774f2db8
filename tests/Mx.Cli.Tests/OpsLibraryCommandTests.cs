using Microsoft.ML.OnnxRuntime;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Runtime.Ops;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary>
/// <c>mx ops-library</c> in the source checkout: it builds the native library when needed and names it on its last
/// line; that library, loaded into a plain InferenceSession, serves a model written by <c>mx quantize --emit packed</c>
/// with the outputs <c>mx run</c> writes.
/// </summary>
public class OpsLibraryCommandTests : CliTest
{
    [Test]
    public void LastLineIsTheLibraryForThisCpu_AndItServesAPackedModelLikeMxRun()
    {
        var (code, stdout, stderr) = Mx("ops-library");
        Assert.That(code, Is.Zero, stderr);
        string path = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.That(Path.IsPathRooted(path) && File.Exists(path), Is.True, path);
        Assert.That(Path.GetFileName(path), Is.EqualTo(MxOpsLibrary.FileNameForThisCpu));

        string packed = TempPath("tb.mx.onnx");
        (code, _, stderr) = Mx("quantize", TestPaths.TestModel("transformer_block.onnx"), "-o", packed, "--emit", "packed", "--format", "mxfp4_e2m1");
        Assert.That(code, Is.Zero, stderr);
        var rng = new Random(5);
        float[] x = Enumerable.Range(0, 2 * 8 * 64).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        string input = TempPath("x.npy");
        NpyFile.Write(input, HostTensor.FromFloats(x, 2, 8, 64));
        (code, _, stderr) = Mx("run", packed, "--input", $"x={input}", "--output-dir", TempPath("out"));
        Assert.That(code, Is.Zero, stderr);
        float[] want = NpyFile.Read(TempPath(Path.Combine("out", "y.npy"))).AsSpan<float>().ToArray();

        using var options = new SessionOptions();
        options.RegisterCustomOpLibrary(path);
        using var session = new InferenceSession(packed, options);
        using var value = OrtValue.CreateTensorValueFromMemory(x, [2, 8, 64]);
        using var outputs = session.Run(new RunOptions(), ["x"], [value], ["y"]);
        float[] got = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        double err = 0, norm = 0;
        for (int i = 0; i < want.Length; i++)
        {
            err += (got[i] - want[i]) * (double)(got[i] - want[i]);
            norm += want[i] * (double)want[i];
        }
        Assert.That(Math.Sqrt(err / norm), Is.LessThanOrEqualTo(1e-6), "relative L2 error vs mx run");
    }
}
