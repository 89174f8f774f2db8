using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>The one-call registration on Microsoft.ML.OnnxRuntime's session options, used as an application would.</summary>
public class RegistrationTests
{
    [Test]
    public void RegisteringTwice_AddsTheDomainOnce_AndReturnsTheSameOptions()
    {
        using var options = new SessionOptions();
        Assert.That(options.RegisterMxOps(), Is.SameAs(options));
        MxOps.Register(options);
        // A duplicate domain would make ORT refuse the session ("domain already registered"): it loads.
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        using var session = new InferenceSession(OpModels.MatMul(w, ["m", 32L], null), options);
        Assert.That(MxOps.Domain.Ops.Select(o => o.Name), Is.EquivalentTo(new[] { "MxMatMul", "MxGather", "MxDequantize", "MxQuantizeDequantize" }));
        Assert.Throws<ArgumentNullException>(() => MxOps.Register(null!));
    }

    [Test]
    public void WithoutRegistration_AnMxModelDoesNotLoad()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        var e = Assert.Throws<OnnxRuntimeException>(() => new InferenceSession(OpModels.MatMul(w, ["m", 32L], null), options).Dispose());
        Assert.That(e!.Message, Does.Contain("mx.onnx").Or.Contain("MxMatMul"));
    }

    [Test]
    public void InferenceSession_OnRegisteredOptions_RunsOurKernels_AndReportsTheirErrors()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        using var options = new SessionOptions().RegisterMxOps();
        using (var session = new InferenceSession(OpModels.MatMul(w, ["m", 32L], null), options))
        {
            float[] a = PackedMatrix.RandomFloats(2 * 32, 3);
            using var input = OrtValue.CreateTensorValueFromMemory(a, [2, 32]);
            using var outputs = session.Run(new RunOptions(), ["A"], [input], ["Y"]);
            float[] y = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            var want = OpModels.Reference(a, 2, w, null);
            Assert.That(OpModels.WorstRelativeError(y, want, w.Rows), Is.LessThan(1e-5));
        }
        // Session creation reaches our kernel factory: its validation message comes back through ORT.
        var e = Assert.Throws<OnnxRuntimeException>(() => new InferenceSession(OpModels.MatMul(w, ["m", 32L], null, ("N", 5L)), options).Dispose());
        Assert.That(e!.Message, Does.Contain("'mm0'").And.Contain("W_elements"));
    }

    [Test]
    public void ManySessionsOnManyThreads_FromOneOptionsObject()
    {
        var w = new PackedMatrix(MxFormats.Mxfp8E4M3, 8, 64, 32, seed: 2);
        byte[] model = OpModels.MatMul(w, ["m", 64L], null);
        using var options = HostTensorSession.CreateOptions(1);
        float[] a = PackedMatrix.RandomFloats(3 * 64, 5);
        var want = OpModels.Reference(a, 3, w, null);
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            using var session = HostTensorSession.FromBytes(model, options);
            float[] y = OpModels.RunY(session, HostTensor.FromFloats(a, 3, 64));
            double err = OpModels.WorstRelativeError(y, want, w.Rows);
            if (err > 1e-5) errors.Add($"session {i}: error {err}");
        });
        Assert.That(errors, Is.Empty);
    }
}
