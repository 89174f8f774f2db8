using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Cuda;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>The MX ops registered for CUDA (<see cref="MxOpsDevice.Cuda"/>): GPU results where there is a GPU, a clear failure where not.</summary>
public class CudaRegistrationTests
{
    private static SessionOptions CudaOptions() =>
        new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL }.RegisterMxOps(MxOpsDevice.Cuda);

    [Test]
    public void WithoutCuda_SessionCreationFailsWithTheReason_NamingTheNode()
    {
        if (CudaBackend.TryGetAvailability(out _)) Assert.Ignore("CUDA is available here; GpuProducts_MatchTheCpuKernels covers it");
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 8, 64, 32, seed: 1);
        using var options = CudaOptions();
        var e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(OpModels.MatMul(w, ["m", 64L], null), options));
        Assert.That(e!.Message, Does.Contain("'mm0'").And.Contain(CudaBackend.GetAvailability().Reason));
    }

    [Test]
    public void NodesTheCudaKernelsDoNotRun_StayOnTheCpu_AndNeedNoGpu()
    {
        // MX activations and MX6 weights are CPU-only: registered for CUDA, such a node still loads and runs anywhere.
        var w = new PackedMatrix(MxFormats.Mx6, 8, 64, 16, seed: 2);
        float[] a = PackedMatrix.RandomFloats(3 * 64, 3);
        using var options = CudaOptions();
        using var session = HostTensorSession.FromBytes(OpModels.MatMul(w, ["m", 64L], null), options);
        using var cpu = OpModels.Session(OpModels.MatMul(w, ["m", 64L], null));
        var x = HostTensor.FromFloats(a, 3, 64);
        Assert.That(OpModels.RunY(session, x), Is.EqualTo(OpModels.RunY(cpu, x)).AsCollection);
    }

    [Test]
    public void OneOptionsObject_GetsOneDevice()
    {
        using var options = new SessionOptions().RegisterMxOps();
        var e = Assert.Throws<InvalidOperationException>(() => options.RegisterMxOps(MxOpsDevice.Cuda));
        Assert.That(e!.Message, Does.Contain(MxOps.DomainName));
        options.RegisterMxOps(MxOpsDevice.Cpu);   // the same registration again is fine
    }

    [TestCase("mxfp4_e2m1", 1)]
    [TestCase("mxfp4_e2m1", 37)]
    [TestCase("mxfp8_e4m3", 5)]
    [TestCase("mxint8", 64)]
    public void GpuProducts_MatchTheCpuKernels(string format, int m)
    {
        if (!CudaBackend.TryGetAvailability(out var availability)) Assert.Ignore($"CUDA not available: {availability.Reason}");
        var w = new PackedMatrix(MxFormats.Parse(format), 136, 256, 32, seed: 4);
        float[] bias = PackedMatrix.RandomFloats(136, 5);
        byte[] model = OpModels.MatMul(w, ["m", 256L], bias, ("alpha", 0.75f));
        float[] a = PackedMatrix.RandomFloats(m * 256, 6);
        using var options = CudaOptions();
        using var gpu = HostTensorSession.FromBytes(model, options);
        float[] y = OpModels.RunY(gpu, HostTensor.FromFloats(a, m, 256));
        // fp32 activations are split into two bf16 halves on the tensor-core path: about 16 significant bits.
        Assert.That(OpModels.WorstRelativeError(y, OpModels.Reference(a, m, w, bias, alpha: 0.75), w.Rows), Is.LessThan(m > 8 ? 1e-4 : 1e-5));
    }
}
