using System.Globalization;
using System.Text.Json;
using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary>
/// <c>mx tensor</c> checked against the official OCP block vectors: the dequantized file must equal
/// 2^(scale − 127) · element_value(code) from the conformance data, block by block.
/// </summary>
public class TensorCommandTests : CliTest
{
    [TestCase("mxfp8_e4m3", "rne"), TestCase("mxfp8_e5m2", "rne"), TestCase("mxfp6_e3m2", "rne"), TestCase("mxfp6_e2m3", "rne")]
    [TestCase("mxfp4_e2m1", "rne"), TestCase("mxint8", "rne"), TestCase("mxfp4_e2m1", "away"), TestCase("mxfp8_e4m3", "away")]
    public void DequantizedFileMatchesOcpVectors(string format, string rounding)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(TestPaths.Shared("conformance", "mx-vectors", "ocp_block32.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToArray();
        var values = doc.RootElement.GetProperty("element_values").GetProperty(format);
        int bs = doc.RootElement.GetProperty("block_size").GetInt32();

        var input = HostTensor.Zeros(TensorElementType.Float, cases.Length, bs);
        var x = input.AsSpan<float>();
        for (int c = 0; c < cases.Length; c++)
        {
            var hex = cases[c].GetProperty("input_f32_hex").EnumerateArray().ToArray();
            for (int i = 0; i < bs; i++)
                x[c * bs + i] = BitConverter.Int32BitsToSingle(int.Parse(hex[i].GetString()!, NumberStyles.HexNumber));
        }
        string inPath = Path.Combine(Dir, "blocks.npy"), outPath = Path.Combine(Dir, "dq.npy");
        NpyFile.Write(inPath, input);

        var (code, _, err) = Mx("tensor", inPath, "--format", format, "--rounding", rounding == "rne" ? "even" : "away", "--dequantized", outPath);
        Assert.That(code, Is.EqualTo(0), err);

        var dq = NpyFile.Read(outPath);
        Assert.That(dq.Shape, Is.EqualTo(input.Shape));
        var y = dq.AsSpan<float>();
        for (int c = 0; c < cases.Length; c++)
        {
            var expected = cases[c].GetProperty("expected").GetProperty($"{format}/{rounding}");
            int scale = expected.GetProperty("scale_e8m0").GetInt32();
            // NaN/Inf blocks (scale 0xFF) have no codes in the vectors: the whole block decodes to NaN.
            var codes = scale == 0xFF ? [] : expected.GetProperty("codes").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            for (int i = 0; i < bs; i++)
            {
                float got = y[c * bs + i];
                if (scale == 0xFF)
                {
                    Assert.That(float.IsNaN(got), $"case {c} element {i}: a NaN/Inf block must dequantize to NaN, got {got}");
                    continue;
                }
                double want = Math.ScaleB(1.0, scale - 127) * values.GetProperty(codes[i].ToString(CultureInfo.InvariantCulture)).GetDouble();
                Assert.That(got, Is.EqualTo((float)want), $"case {c} element {i}: input {x[c * bs + i]:R}");
            }
        }
    }

    [Test]
    public void JsonReportsBitsAndErrorOfTheFile()
    {
        // A [4, 64] tensor of values exactly representable in MXINT8 with scale 2^0: no error at all.
        var input = HostTensor.Zeros(TensorElementType.Float, 4, 64);
        var x = input.AsSpan<float>();
        for (int i = 0; i < x.Length; i++) x[i] = ((i * 37 % 255) - 127) / 64f;
        string inPath = Path.Combine(Dir, "exact.npy");
        NpyFile.Write(inPath, input);

        var (code, stdout, err) = Mx("tensor", inPath, "--format", "mxint8", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(stdout);
        var r = doc.RootElement;
        Assert.That(r.GetProperty("bits_per_element").GetDouble(), Is.EqualTo(8 + 8.0 / 32), "8-bit codes plus one E8M0 byte per 32");
        Assert.That(r.GetProperty("mse").GetDouble(), Is.EqualTo(0));
        Assert.That(r.GetProperty("max_abs_error").GetDouble(), Is.EqualTo(0));
        Assert.That(r.GetProperty("sqnr_db").ValueKind, Is.EqualTo(JsonValueKind.Null), "exact reconstruction: infinite SQNR is written as null");
        Assert.That(r.GetProperty("packed_bytes").GetInt64(), Is.EqualTo(4 * 64 + 4 * 2));
    }

    [Test]
    public void BadInputGivesOneLineAndNonZeroExit()
    {
        var labels = HostTensor.Zeros(TensorElementType.Int64, 8);
        string intPath = Path.Combine(Dir, "ints.npy");
        NpyFile.Write(intPath, labels);
        string floatPath = Path.Combine(Dir, "f.npy");
        NpyFile.Write(floatPath, HostTensor.Zeros(TensorElementType.Float, 2, 3));

        foreach (var args in new[]
                 {
                     new[] { "tensor", intPath, "--format", "mxfp4" },
                     new[] { "tensor", Path.Combine(Dir, "missing.npy"), "--format", "mxfp4" },
                     new[] { "tensor", floatPath, "--format", "nosuchformat" },
                     new[] { "tensor", floatPath, "--format", "mxfp4", "--axis", "5" },
                     new[] { "tensor", floatPath, "--format", "mxfp4", "--block-size", "7" },
                 })
        {
            var (code, stdout, err) = Mx(args);
            Assert.That(code, Is.Not.EqualTo(0), string.Join(" ", args));
            Assert.That(stdout, Is.Empty, string.Join(" ", args));
            Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1), err);
            Assert.That(err, Does.StartWith("mx tensor: "), err);
        }
    }
}
