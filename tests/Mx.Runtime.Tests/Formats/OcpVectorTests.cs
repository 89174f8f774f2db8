using System.Text.Json;
using Mx.Runtime.Formats;
using Mx.Tests.Common;

namespace Mx.Runtime.Tests.Formats;

/// <summary>Bit-exactness against ../shared/conformance/mx-vectors/ocp_block32.json (all six OCP formats, both roundings).</summary>
public class OcpVectorTests
{
    private static JsonDocument Load() =>
        JsonDocument.Parse(File.ReadAllText(TestPaths.Shared("conformance", "mx-vectors", "ocp_block32.json")));

    [TestCase(MxCodecPath.Scalar)]
    [TestCase(MxCodecPath.Vector256)]
    public void BlocksMatchScaleAndCodes(MxCodecPath path)
    {
        using var doc = Load();
        int checkedBlocks = 0;
        var failures = new List<string>();
        int caseIndex = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            float[] input = c.GetProperty("input_f32_hex").EnumerateArray()
                .Select(h => BitConverter.UInt32BitsToSingle(Convert.ToUInt32(h.GetString(), 16))).ToArray();
            foreach (var e in c.GetProperty("expected").EnumerateObject())
            {
                string[] parts = e.Name.Split('/');
                var format = MxFormats.Parse(parts[0]);
                var rounding = parts[1] == "rne" ? MxRounding.NearestEven : MxRounding.NearestAway;
                int blockBytes = input.Length * format.ElementBits / 8;
                byte[] packed = new byte[blockBytes], scale = new byte[1];
                MxRowCodec.Quantize(format, input, input.Length, packed, scale, [], MxScaleMode.Floor, rounding, path);
                byte[] codes = new byte[input.Length];
                MxBitPacking.Unpack(packed, codes, format.ElementBits);
                int expectedScale = e.Value.GetProperty("scale_e8m0").GetInt32();
                if (scale[0] != expectedScale) failures.Add($"case {caseIndex} {e.Name}: scale {scale[0]} != {expectedScale}");
                var expCodes = e.Value.GetProperty("codes");
                if (expCodes.ValueKind == JsonValueKind.Array)
                {
                    int[] exp = expCodes.EnumerateArray().Select(x => x.GetInt32()).ToArray();
                    for (int i = 0; i < exp.Length; i++)
                        if (codes[i] != exp[i]) { failures.Add($"case {caseIndex} {e.Name}[{i}] x={input[i]:R}: code {codes[i]} != {exp[i]}"); break; }
                }
                checkedBlocks++;
            }
            caseIndex++;
        }
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(20)));
        Assert.That(checkedBlocks, Is.EqualTo(121 * 12));
    }

    [Test]
    public void ElementValuesMatchDecodeTable()
    {
        using var doc = Load();
        int n = 0;
        foreach (var f in doc.RootElement.GetProperty("element_values").EnumerateObject())
        {
            var format = MxFormats.Parse(f.Name);
            foreach (var kv in f.Value.EnumerateObject())
            {
                int code = int.Parse(kv.Name);
                float expected = kv.Value.ValueKind == JsonValueKind.Number ? (float)kv.Value.GetDouble() : float.NaN;
                float actual = MxElementDecoding.Decode(format, code);
                if (float.IsNaN(expected)) Assert.That(float.IsNaN(actual), $"{f.Name} code {code}");
                else Assert.That(actual, Is.EqualTo(expected), $"{f.Name} code {code}");
                n++;
            }
        }
        Assert.That(n, Is.GreaterThan(0));
    }
}
