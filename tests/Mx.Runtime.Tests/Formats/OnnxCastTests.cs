using Mx.Runtime.Formats;
using Mx.Tests.Common;

namespace Mx.Runtime.Tests.Formats;

/// <summary>
/// The official ONNX backend Cast cases (../shared/conformance/onnx-node) for FLOAT4E2M1, FLOAT8E4M3FN, FLOAT8E5M2 and
/// FLOAT8E8M0, used as an element-level codec check: float/float16 → code with the case's saturate and round_mode
/// attributes, and code → float/float16.
/// </summary>
public class OnnxCastTests
{
    private const int Float = 1, Float16 = 10, E4M3FN = 17, E5M2 = 19, Fp4 = 23, E8M0T = 24;

    public static IEnumerable<string> Cases()
    {
        string? shared = TestPaths.SharedDir;
        if (shared is null) yield break;
        string dir = Path.Combine(shared, "conformance", "onnx-node");
        if (!Directory.Exists(dir)) yield break;
        foreach (string d in Directory.GetDirectories(dir).Select(Path.GetFileName).Order()!)
            if (d!.StartsWith("test_cast_", StringComparison.Ordinal) && !d.Contains("FNUZ")
                && (d.Contains("FLOAT4E2M1") || d.Contains("FLOAT8E4M3FN") || d.Contains("FLOAT8E5M2") || d.Contains("FLOAT8E8M0")))
                yield return d;
    }

    [Test]
    public void CasesArePresent()
    {
        var cases = Cases().ToList();
        if (cases.Count == 0) TestPaths.Shared("conformance", "onnx-node");
        Assert.That(cases, Has.Count.GreaterThanOrEqualTo(14));
    }

    [TestCaseSource(nameof(Cases))]
    public void CastMatches(string name)
    {
        string dir = TestPaths.Shared("conformance", "onnx-node", name);
        var attrs = ProtoReader.FirstNodeAttributes(Path.Combine(dir, "model.onnx"));
        bool saturate = !attrs.TryGetValue("saturate", out var sat) || sat.I != 0;
        string roundMode = attrs.TryGetValue("round_mode", out var rm) ? rm.S : "up";
        var input = ProtoReader.ReadTensor(Path.Combine(dir, "test_data_set_0", "input_0.pb"));
        var output = ProtoReader.ReadTensor(Path.Combine(dir, "test_data_set_0", "output_0.pb"));
        long count = input.Dims.Aggregate(1L, (a, b) => a * b);
        Assert.That(output.Dims.Aggregate(1L, (a, b) => a * b), Is.EqualTo(count));
        for (int i = 0; i < count; i++)
        {
            if (input.DataType is Float or Float16)
            {
                float x = ReadFloat(input, i);
                int expected = ReadCode(output, i);
                int actual = output.DataType == E8M0T
                    ? E8M0.FromFloat(x, saturate, roundMode switch { "down" => E8M0RoundMode.Down, "nearest" => E8M0RoundMode.Nearest, _ => E8M0RoundMode.Up })
                    : MxElementCast.FromFloat(FormatOf(output.DataType), x, saturate);
                Assert.That(actual, Is.EqualTo(expected), $"{name}[{i}]: x = {x:R}");
            }
            else
            {
                int code = ReadCode(input, i);
                float expected = ReadFloat(output, i);
                float actual = input.DataType == E8M0T ? E8M0.ToFloat((byte)code) : MxElementDecoding.Decode(FormatOf(input.DataType), code);
                if (output.DataType == Float16) actual = (float)(Half)actual;
                if (float.IsNaN(expected)) Assert.That(float.IsNaN(actual), $"{name}[{i}]: code {code}");
                else Assert.That(BitConverter.SingleToInt32Bits(actual), Is.EqualTo(BitConverter.SingleToInt32Bits(expected)), $"{name}[{i}]: code {code}");
            }
        }
    }

    private static MxFormat FormatOf(int dataType) => dataType switch
    {
        E4M3FN => MxFormats.Mxfp8E4M3,
        E5M2 => MxFormats.Mxfp8E5M2,
        Fp4 => MxFormats.Mxfp4E2M1,
        _ => throw new ArgumentException($"data type {dataType}"),
    };

    private static float ReadFloat(ProtoReader.Tensor t, int i) => t.DataType switch
    {
        Float => BitConverter.ToSingle(t.Raw, 4 * i),
        Float16 => t.Raw.Length > 0 ? (float)BitConverter.ToHalf(t.Raw, 2 * i) : (float)BitConverter.UInt16BitsToHalf((ushort)t.Int32Data[i]),
        _ => throw new ArgumentException($"data type {t.DataType}"),
    };

    private static int ReadCode(ProtoReader.Tensor t, int i)
    {
        if (t.DataType == Fp4)
        {
            byte b = t.Raw.Length > 0 ? t.Raw[i / 2] : (byte)t.Int32Data[i / 2];
            return (i & 1) == 0 ? b & 0xF : b >> 4;
        }
        return t.Raw.Length > 0 ? t.Raw[i] : t.Int32Data[i] & 0xFF;
    }
}
