using Mx.Runtime.Formats;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>
/// mx.onnx.MxMatMul run through ORT, against a double-precision product of the formats library's dequantized weights,
/// against ORT's own fp32 MatMul on those weights, and (MX×MX) against the MX arithmetic done by hand.
/// </summary>
public class MxMatMulOpTests
{
    private const double Tolerance = 1e-5;

    private static IEnumerable<TestCaseData> AllFormats() =>
        MxFormats.All.Select(f => new TestCaseData(f.Name, f.DefaultBlockSize).SetArgDisplayNames(f.Name));

    [TestCaseSource(nameof(AllFormats))]
    public void WeightOnly_EveryFormat_MatchesDoubleReference(string format, int bs)
    {
        var w = new PackedMatrix(MxFormats.Parse(format), rows: 13, k: 100, bs, seed: 1);
        float[] a = PackedMatrix.RandomFloats(3 * 100, 2), bias = PackedMatrix.RandomFloats(13, 3);
        using var s = OpModels.Session(OpModels.MatMul(w, ["m", 100L], bias));
        float[] y = OpModels.RunY(s, HostTensor.FromFloats(a, 3, 100));
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(a, 3, w, bias), 13), Is.LessThanOrEqualTo(Tolerance));
    }

    [TestCase(1, 64, 1, false)]        // N = 1
    [TestCase(1, 4096, 64, false)]     // GEMV, long K
    [TestCase(5, 70, 33, true)]        // K not a multiple of 32
    [TestCase(40, 96, 24, true)]       // several rows: the tiled path
    [TestCase(0, 64, 8, true)]         // M = 0
    public void WeightOnly_Shapes_MatchReference(int m, int k, int n, bool withBias)
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, n, k, 32, seed: m + k + n);
        float[] a = PackedMatrix.RandomFloats(m * k, 5), bias = PackedMatrix.RandomFloats(n, 6);
        using var s = OpModels.Session(OpModels.MatMul(w, ["m", (long)k], withBias ? bias : null));
        float[] y = OpModels.RunY(s, HostTensor.FromFloats(a, m, k));
        Assert.That(y, Has.Length.EqualTo(m * n));
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(a, m, w, withBias ? bias : null), n), Is.LessThanOrEqualTo(Tolerance));
    }

    [Test]
    public void LeadingBatchDimensions_AreKeptInTheOutput()
    {
        var w = new PackedMatrix(MxFormats.Mxint8, 10, 48, 32, seed: 7);
        float[] a = PackedMatrix.RandomFloats(2 * 3 * 48, 8), bias = PackedMatrix.RandomFloats(10, 9);
        using var s = OpModels.Session(OpModels.MatMul(w, [2L, 3L, 48L], bias));
        var y = s.Run(new Dictionary<string, HostTensor> { ["A"] = HostTensor.FromFloats(a, 2, 3, 48) })["Y"];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 2, 3, 10 }).AsCollection);
        Assert.That(OpModels.WorstRelativeError(y.AsSpan<float>().ToArray(), OpModels.Reference(a, 6, w, bias), 10), Is.LessThanOrEqualTo(Tolerance));
    }

    [TestCase(0.5f, -2f, true)]
    [TestCase(3f, 1f, false)]
    [TestCase(1f, 0.25f, true)]
    public void AlphaAndBeta_ScaleProductAndBias(float alpha, float beta, bool withBias)
    {
        var w = new PackedMatrix(MxFormats.Mxfp8E4M3, 12, 64, 32, seed: 10);
        float[] a = PackedMatrix.RandomFloats(4 * 64, 11), bias = PackedMatrix.RandomFloats(12, 12);
        using var s = OpModels.Session(OpModels.MatMul(w, ["m", 64L], withBias ? bias : null, ("alpha", alpha), ("beta", beta)));
        float[] y = OpModels.RunY(s, HostTensor.FromFloats(a, 4, 64));
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(a, 4, w, withBias ? bias : null, alpha, beta), 12), Is.LessThanOrEqualTo(Tolerance));
    }

    [TestCase("mxfp4_e2m1", 17, 100, 1, true)]
    [TestCase("mxfp4_e2m1", 64, 256, 33, false)]
    [TestCase("mxint8", 9, 64, 20, true)]
    [TestCase("mxint4", 5, 96, 3, false)]
    [TestCase("mxfp6_e2m3", 8, 128, 4, true)]
    [TestCase("mxfp8_e4m3", 8, 64, 2, false)]
    public void MxMx_MatchesHandDoneMxArithmetic(string format, int n, int k, int m, bool withBias)
    {
        var w = new PackedMatrix(MxFormats.Parse(format), n, k, 32, seed: n * k);
        float[] a = PackedMatrix.RandomFloats(m * k, 13), bias = PackedMatrix.RandomFloats(n, 14);
        // The activations quantized by the formats library to MXINT8 per block of 32 along K (OCP floor, round-half-even).
        var qa = MxQuantizer.Dequantize(MxQuantizer.Quantize(a, [m, k], new MxQuantizeOptions(MxFormats.Mxint8) { BlockSize = 32, Axis = 1 }));
        using var s = OpModels.Session(OpModels.MatMul(w, ["m", (long)k], withBias ? bias : null, ("act_format", "mxint8")));
        float[] y = OpModels.RunY(s, HostTensor.FromFloats(a, m, k));
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(qa, m, w, withBias ? bias : null), n), Is.LessThanOrEqualTo(Tolerance));
        // And the activation quantization really happened: the weight-only product differs.
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(a, m, w, withBias ? bias : null), n), Is.GreaterThan(1e-4));
    }

    [TestCase("mxfp4_e2m1", 32)]
    [TestCase("mxint8", 32)]
    [TestCase("mx6", 16)]
    public void WeightOnly_AgreesWithOrtFloatMatMulOnDequantizedWeights(string format, int bs)
    {
        var w = new PackedMatrix(MxFormats.Parse(format), 40, 200, bs, seed: 21);
        float[] a = PackedMatrix.RandomFloats(2 * 3 * 200, 22), bias = PackedMatrix.RandomFloats(40, 23);
        object?[] dims = [2L, 3L, 200L];
        using var mx = OpModels.Session(OpModels.MatMul(w, dims, bias));
        using var ort = OpModels.Session(OpModels.FloatMatMul(OpModels.Transposed(w), 200, 40, dims, bias));
        var input = HostTensor.FromFloats(a, 2, 3, 200);
        float[] want = OpModels.RunY(ort, input);
        float[] got = OpModels.RunY(mx, input);
        Assert.That(OpModels.WorstRelativeError(got, want.Select(v => (double)v).ToArray(), 40), Is.LessThanOrEqualTo(Tolerance));
    }

    [Test]
    public void ConcurrentRunsFromFourThreads_GiveTheSingleThreadedResults()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 64, 256, 32, seed: 30);
        using var s = OpModels.Session(OpModels.MatMul(w, ["m", 256L], PackedMatrix.RandomFloats(64, 31)), threads: 2);
        var inputs = Enumerable.Range(0, 8).Select(i => HostTensor.FromFloats(PackedMatrix.RandomFloats((i + 1) * 256, 40 + i), i + 1, 256)).ToArray();
        float[][] expected = inputs.Select(x => OpModels.RunY(s, x)).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (int rep = 0; rep < 25; rep++)
            {
                int i = (t * 3 + rep) % inputs.Length;
                if (!OpModels.RunY(s, inputs[i]).SequenceEqual(expected[i])) failures.Add($"thread {t} rep {rep} input {i}");
            }
        })).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.That(failures, Is.Empty);
    }
}
