using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>Bad models fail at session creation naming the node and the fault; bad inputs fail the Run naming node and shapes.</summary>
public class MxOpErrorTests
{
    private static readonly PackedMatrix W = new(MxFormats.Mxfp4E2M1, 8, 64, 32, seed: 1);

    private static string CreationError(byte[] model)
    {
        var e = Assert.Throws<OrtException>(() => OpModels.Session(model).Dispose());
        TestContext.Out.WriteLine(e!.Message);
        Assert.That(e.Message, Does.Contain("MxMatMul").And.Contain("'mm0'"), "names the op and node");
        return e.Message;
    }

    [TestCase("format", "mxfp5", "not a known MX format")]
    [TestCase("block_size", 12L, "block_size")]
    [TestCase("K", 0L, "'K' = 0")]
    [TestCase("act_format", "fp16", "act_format")]
    public void BadAttribute_FailsSessionCreation(string name, object value, string expected) =>
        Assert.That(CreationError(OpModels.MatMul(W, ["m", 64L], null, (name, value))), Does.Contain(expected));

    [Test]
    public void PackedSizesThatDoNotMatchKAndN_FailSessionCreation()
    {
        Assert.That(CreationError(OpModels.MatMul(W, ["m", 96L], null, ("K", 96L))), Does.Contain("W_elements").And.Contain("K = 96"));
        Assert.That(CreationError(OpModels.MatMul(W, ["m", 64L], null, ("N", 9L))), Does.Contain("W_elements").And.Contain("N = 9"));
        Assert.That(CreationError(OpModels.MatMul(W, ["m", 64L], null, ("format", "mxint8"))), Does.Contain("W_elements").And.Contain("mxint8"));
    }

    [Test]
    public void MissingKOrN_FailsSessionCreation()
    {
        var model = OpModels.Writer().Input("A", TensorElementType.Float, "m", 64L).Output("Y", TensorElementType.Float, "m", 8L)
            .Initializer("W_e", W.Elements).Initializer("W_s", W.Scales)
            .Node("MxMatMul", ["A", "W_e", "W_s"], ["Y"], "mm0", MxOps.DomainName, ("format", "mxfp4_e2m1"), ("N", 8L)).ToBytes();
        Assert.That(CreationError(model), Does.Contain("missing required int attribute 'K'"));
    }

    [Test]
    public void NonConstantPackedWeights_FailSessionCreation()
    {
        var model = OpModels.Writer().Input("A", TensorElementType.Float, "m", 64L).Input("W_e", TensorElementType.UInt8, 8L, 32L)
            .Output("Y", TensorElementType.Float, "m", 8L).Initializer("W_s", W.Scales)
            .Node("MxMatMul", ["A", "W_e", "W_s"], ["Y"], "mm0", MxOps.DomainName, ("format", "mxfp4_e2m1"), ("K", 64L), ("N", 8L)).ToBytes();
        Assert.That(CreationError(model), Does.Contain("W_elements").And.Contain("constant"));
    }

    [Test]
    public void MissingMicroForMx9_FailsSessionCreation()
    {
        var w = new PackedMatrix(MxFormats.Mx9, 4, 32, 16, seed: 2);
        var model = OpModels.Writer().Input("A", TensorElementType.Float, "m", 32L).Output("Y", TensorElementType.Float, "m", 4L)
            .Initializer("W_e", w.Elements).Initializer("W_s", w.Scales)
            .Node("MxMatMul", ["A", "W_e", "W_s"], ["Y"], "mm0", MxOps.DomainName, ("format", "mx9"), ("block_size", 16L), ("K", 32L), ("N", 4L)).ToBytes();
        Assert.That(CreationError(model), Does.Contain("W_micro"));
    }

    [Test]
    public void WrongActivationWidth_FailsTheRunNamingNodeAndShape()
    {
        using var s = OpModels.Session(OpModels.MatMul(W, ["m", "k"], null));
        var e = Assert.Throws<OrtException>(() => OpModels.RunY(s, HostTensor.FromFloats(new float[2 * 60], 2, 60)));
        Assert.That(e!.Message, Does.Contain("'mm0'").And.Contain("[2, 60]").And.Contain("K = 64"));
        Assert.That(OpModels.RunY(s, HostTensor.FromFloats(new float[64], 1, 64)), Has.Length.EqualTo(8), "the session still works afterwards");
    }

    [Test]
    public void BiasOfTheWrongLength_FailsTheRunNamingNodeAndShape()
    {
        var model = OpModels.Writer().Input("A", TensorElementType.Float, "m", 64L).Input("bias", TensorElementType.Float, "n")
            .Output("Y", TensorElementType.Float, "m", 8L).Initializer("W_e", W.Elements).Initializer("W_s", W.Scales)
            .Node("MxMatMul", ["A", "W_e", "W_s", "bias"], ["Y"], "mm0", MxOps.DomainName, ("format", "mxfp4_e2m1"), ("K", 64L), ("N", 8L)).ToBytes();
        using var s = OpModels.Session(model);
        var e = Assert.Throws<OrtException>(() => s.Run(new Dictionary<string, HostTensor>
        {
            ["A"] = HostTensor.FromFloats(new float[64], 1, 64),
            ["bias"] = HostTensor.FromFloats(new float[5], 5),
        }));
        Assert.That(e!.Message, Does.Contain("'mm0'").And.Contain("bias has shape [5]").And.Contain("N = 8"));
    }
}
