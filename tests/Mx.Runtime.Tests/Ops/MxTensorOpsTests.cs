using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>MxGather, MxDequantize and MxQuantizeDequantize through ORT against the formats library.</summary>
public class MxTensorOpsTests
{
    private static IEnumerable<TestCaseData> AllFormats() =>
        MxFormats.All.Select(f => new TestCaseData(f.Name).SetArgDisplayNames(f.Name));

    internal static byte[] GatherModel(PackedMatrix table, bool microAsInput = true)
    {
        var m = OpModels.Writer().Input("idx", TensorElementType.Int64, "a", "b").Output("Y", TensorElementType.Float, "a", "b", (long)table.K)
            .Initializer("t_e", table.Elements).Initializer("t_s", table.Scales);
        string[] inputs = ["t_e", "t_s", "idx"];
        if (table.HasMicro && microAsInput)
        {
            m.Initializer("t_m", table.Micro);
            inputs = [.. inputs, "t_m"];
        }
        return m.Node("MxGather", inputs, ["Y"], "emb", MxOps.DomainName,
            ("format", table.Format.Name), ("block_size", (long)table.BlockSize), ("D", (long)table.K)).ToBytes();
    }

    [TestCaseSource(nameof(AllFormats))]
    public void Gather_ReturnsTheDequantizedRows_NegativeIndicesCountFromTheEnd(string format)
    {
        var f = MxFormats.Parse(format);
        var table = new PackedMatrix(f, rows: 11, k: 70, f.DefaultBlockSize, seed: 3);
        long[] idx = [0, 10, -1, 5, -11, 3];
        using var s = OpModels.Session(GatherModel(table));
        var y = s.Run(new Dictionary<string, HostTensor> { ["idx"] = Int64(idx, 2, 3) })["Y"];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 2, 3, 70 }).AsCollection);
        float[] want = idx.SelectMany(i => table.Dequantized.Skip((int)(i < 0 ? i + 11 : i) * 70).Take(70)).ToArray();
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(want).AsCollection);
    }

    [Test]
    public void Gather_OutOfRangeIndex_FailsNamingTheNodeAndIndex()
    {
        var table = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 4);
        using var s = OpModels.Session(GatherModel(table));
        var e = Assert.Throws<OrtException>(() => s.Run(new Dictionary<string, HostTensor> { ["idx"] = Int64([1, 4], 1, 2) }));
        Assert.That(e!.Message, Does.Contain("'emb'").And.Contain("index 4").And.Contain("V = 4"));
        e = Assert.Throws<OrtException>(() => s.Run(new Dictionary<string, HostTensor> { ["idx"] = Int64([-5], 1, 1) }));
        Assert.That(e!.Message, Does.Contain("'emb'").And.Contain("index -5"));
    }

    [Test]
    public void Gather_MissingMicroForMx6_FailsAtSessionCreation()
    {
        var table = new PackedMatrix(MxFormats.Mx6, 4, 32, 16, seed: 5);
        var e = Assert.Throws<OrtException>(() => OpModels.Session(GatherModel(table, microAsInput: false)));
        Assert.That(e!.Message, Does.Contain("'emb'").And.Contain("table_micro"));
    }

    internal static byte[] DequantizeModel(MxPackedTensor p, bool constant, long[] shape, int axis)
    {
        var l = p.Layout;
        var e = new HostTensor(TensorElementType.UInt8, [l.Rows, l.RowBytes], p.Elements.ToArray());
        var sc = new HostTensor(TensorElementType.UInt8, [l.Rows, l.BlocksPerRow], p.Scales.ToArray());
        var mi = new HostTensor(TensorElementType.UInt8, [l.Rows, l.BlocksPerRow * l.MicroBytesPerBlock], p.Micro.ToArray());
        var m = OpModels.Writer().Output("Y", TensorElementType.Float, [.. shape.Cast<object?>()]);
        string[] inputs = l.MicroBytes > 0 ? ["e", "s", "m"] : ["e", "s"];
        if (constant)
        {
            m.Initializer("e", e).Initializer("s", sc);
            if (l.MicroBytes > 0) m.Initializer("m", mi);
        }
        else
        {
            m.Input("e", TensorElementType.UInt8, e.Shape.Cast<object?>().ToArray()).Input("s", TensorElementType.UInt8, sc.Shape.Cast<object?>().ToArray());
            if (l.MicroBytes > 0) m.Input("m", TensorElementType.UInt8, mi.Shape.Cast<object?>().ToArray());
        }
        return m.Node("MxDequantize", inputs, ["Y"], "deq", MxOps.DomainName,
            ("format", l.Format.Name), ("block_size", (long)l.BlockSize), ("shape", shape), ("axis", (long)axis)).ToBytes();
    }

    [Test]
    public void Dequantize_ConstantAndComputedInputs_MatchTheFormatsLibrary([ValueSource(nameof(FormatNames))] string format, [Values] bool constant, [Values(1, -1)] int axis)
    {
        var f = MxFormats.Parse(format);
        int[] shape = [3, 40, 5];
        float[] x = PackedMatrix.RandomFloats(3 * 40 * 5, 7);
        var p = MxQuantizer.Quantize(x, shape, new MxQuantizeOptions(f) { Axis = axis });
        using var s = OpModels.Session(DequantizeModel(p, constant, [3, 40, 5], axis));
        var feeds = new Dictionary<string, HostTensor>();
        if (!constant)
        {
            var l = p.Layout;
            feeds["e"] = new HostTensor(TensorElementType.UInt8, [l.Rows, l.RowBytes], p.Elements.ToArray());
            feeds["s"] = new HostTensor(TensorElementType.UInt8, [l.Rows, l.BlocksPerRow], p.Scales.ToArray());
            if (l.MicroBytes > 0) feeds["m"] = new HostTensor(TensorElementType.UInt8, [l.Rows, l.BlocksPerRow * l.MicroBytesPerBlock], p.Micro.ToArray());
        }
        for (int run = 0; run < 2; run++)   // the constant case copies out a result computed once: same on every run
        {
            var y = s.Run(feeds)["Y"];
            Assert.That(y.Shape, Is.EqualTo(new long[] { 3, 40, 5 }).AsCollection);
            Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(MxQuantizer.Dequantize(p)).AsCollection);
        }
    }

    private static IEnumerable<string> FormatNames() => ["mxfp4_e2m1", "mxint8", "mxfp6_e3m2", "mx4", "mx9"];

    [Test]
    public void QuantizeDequantize_MatchesTheFormatsLibraryRoundTrip(
        [ValueSource(nameof(FormatNames))] string format, [Values(0, 1, -1)] int axis,
        [Values("floor", "ceil", "mse")] string scaleMode, [Values("even", "away")] string rounding)
    {
        var f = MxFormats.Parse(format);
        int[] shape = [3, 37, 20];
        float[] x = PackedMatrix.RandomFloats(3 * 37 * 20, 8);
        var options = new MxQuantizeOptions(f)
        {
            Axis = axis,
            ScaleMode = scaleMode switch { "floor" => MxScaleMode.Floor, "ceil" => MxScaleMode.Ceil, _ => MxScaleMode.Mse },
            Rounding = rounding == "even" ? MxRounding.NearestEven : MxRounding.NearestAway,
        };
        float[] want = MxQuantizer.Dequantize(MxQuantizer.Quantize(x, shape, options));
        var model = OpModels.Writer().Input("X", TensorElementType.Float, "a", "b", "c").Output("Y", TensorElementType.Float, "a", "b", "c")
            .Node("MxQuantizeDequantize", ["X"], ["Y"], "qdq", MxOps.DomainName, ("format", format), ("axis", (long)axis),
                ("scale_mode", scaleMode), ("rounding", rounding)).ToBytes();
        using var s = OpModels.Session(model);
        var y = s.Run(new Dictionary<string, HostTensor> { ["X"] = HostTensor.FromFloats(x, 3, 37, 20) })["Y"];
        Assert.That(y.AsSpan<float>().ToArray(), Is.EqualTo(want).AsCollection);
        Assert.That(want, Is.Not.EqualTo(x).AsCollection, "the round trip changes the values");
    }

    private static HostTensor Int64(long[] values, params long[] shape)
    {
        var t = HostTensor.Zeros(TensorElementType.Int64, shape);
        values.CopyTo(t.AsSpan<long>());
        return t;
    }
}
