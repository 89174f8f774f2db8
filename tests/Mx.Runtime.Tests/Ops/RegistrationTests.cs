using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>The two registration calls: on this binding's options and on a raw native <c>OrtSessionOptions*</c>.</summary>
public class RegistrationTests
{
    [Test]
    public void RegisteringTwice_AddsTheDomainOnce()
    {
        var options = new OrtSessionOptions();
        MxOps.Register(options);
        MxOps.Register(options);
        Assert.That(options.CustomOpDomains, Is.EqualTo(new[] { MxOps.Domain }).AsCollection);
        Assert.That(MxOps.Domain.Ops.Select(o => o.Name), Is.EquivalentTo(new[] { "MxMatMul", "MxGather", "MxDequantize", "MxQuantizeDequantize" }));
    }

    [Test]
    public void WithoutRegistration_AnMxModelDoesNotLoad()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        Assert.Throws<OrtException>(() => OrtSession.FromBytes(OpModels.MatMul(w, ["m", 32L], null)).Dispose());
    }

    [Test]
    public unsafe void RawHandleRegistration_LetsNativeOptionsCreateSessionsThatRunOurKernels()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        nint options = new OrtSessionOptions().CreateNative();   // a plain OrtSessionOptions*, as another binding would hold
        try
        {
            MxOps.Register(options);
            Assert.That(CreateAndRelease(options, OpModels.MatMul(w, ["m", 32L], null)), Is.Null, "a valid model loads");
            // Session creation reaches our kernel factory: its validation message comes back.
            Assert.That(CreateAndRelease(options, OpModels.MatMul(w, ["m", 32L], null, ("N", 5L))), Does.Contain("'mm0'").And.Contain("W_elements"));
        }
        finally
        {
            OrtNative.ReleaseSessionOptions(options);
        }
        Assert.Throws<ArgumentException>(() => MxOps.Register(nint.Zero));
    }

    /// <summary>Creates a session on raw options and releases it; null on success, else ORT's error message.</summary>
    private static unsafe string? CreateAndRelease(nint options, byte[] model)
    {
        fixed (byte* p = model)
        {
            nint status = OrtNative.CreateSessionFromArray(OrtEnvironment.Handle, p, (nuint)model.Length, options, out nint session);
            if (status != 0) return OrtNative.TakeError(status, "creating a session on raw options").Message;
            OrtNative.ReleaseSession(session);
            return null;
        }
    }
}
