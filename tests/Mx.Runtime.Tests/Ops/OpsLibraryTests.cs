using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;
using Mx.Runtime.Tests.Ort;
using Mx.Tests.Common;

namespace Mx.Runtime.Tests.Ops;

/// <summary>
/// libmxonnx.so, the native custom-op library, loaded the way any ONNX Runtime host loads custom ops
/// (<see cref="SessionOptions.RegisterCustomOpLibrary"/>), against the managed registration on the same models: the
/// outputs must be the same bits. test.sh builds the library first (build/build-ops-library.sh).
/// </summary>
public class OpsLibraryTests
{
    /// <summary>
    /// The library build for this CPU: <c>MX_OPS_LIBRARY</c>, else the repository's build output; the test is ignored,
    /// with the reason, when absent.
    /// </summary>
    internal static string LibraryPath()
    {
        string path = Environment.GetEnvironmentVariable("MX_OPS_LIBRARY")
            ?? Path.Combine(TestPaths.RepoRoot, "src", "Mx.Runtime.Native", "bin", "Release", "ops-library", MxOpsLibrary.FileNameForThisCpu);
        if (!File.Exists(path)) Assert.Ignore($"libmxonnx.so is not built ({path}); build/build-ops-library.sh builds it (test.sh runs it)");
        return path;
    }

    /// <summary>Session options with the MX ops from the native library (not the managed registration).</summary>
    internal static SessionOptions LibraryOptions(int threads = 2)
    {
        var options = new SessionOptions { IntraOpNumThreads = threads, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        options.RegisterCustomOpLibrary(LibraryPath());
        return options;
    }

    /// <summary>Runs <paramref name="model"/> through both registrations; asserts the outputs are the same bytes.</summary>
    private static void AssertSameBits(byte[] model, Dictionary<string, HostTensor> feeds)
    {
        using var nativeOptions = LibraryOptions();
        using var managedOptions = HostTensorSession.CreateOptions(2);
        using var native = HostTensorSession.FromBytes(model, nativeOptions);
        using var managed = HostTensorSession.FromBytes(model, managedOptions);
        var want = managed.Run(feeds);
        var got = native.Run(feeds);
        foreach (var (name, tensor) in want)
        {
            Assert.That(got[name].Shape, Is.EqualTo(tensor.Shape).AsCollection, name);
            Assert.That(got[name].Data, Is.EqualTo(tensor.Data).AsCollection, $"output {name}: the native library's bytes differ from the managed registration's");
        }
    }

    private static IEnumerable<TestCaseData> MatMulCases() =>
        from format in new[] { "mxfp4_e2m1", "mxfp8_e4m3", "mxint8" }
        from act in new[] { "", "mxint8" }
        from m in new[] { 1, 7 }
        select new TestCaseData(format, act, m).SetArgDisplayNames(format, act.Length == 0 ? "weight-only" : act, $"M={m}");

    [TestCaseSource(nameof(MatMulCases))]
    public void MxMatMul_IsBitIdenticalToTheManagedRegistration(string format, string act, int m)
    {
        var w = new PackedMatrix(MxFormats.Parse(format), rows: 40, k: 96, blockSize: 32, seed: 11);
        float[] bias = PackedMatrix.RandomFloats(40, 12);
        (string, object)[] attributes = act.Length == 0 ? [] : [("act_format", act)];
        byte[] model = OpModels.MatMul(w, ["m", 96L], bias, attributes);
        AssertSameBits(model, new() { ["A"] = HostTensor.FromFloats(PackedMatrix.RandomFloats(m * 96, 13), m, 96) });
    }

    [Test]
    public void MxGather_IsBitIdenticalToTheManagedRegistration([Values("mxfp4_e2m1", "mxfp6_e3m2", "mx6")] string format)
    {
        var f = MxFormats.Parse(format);
        var table = new PackedMatrix(f, rows: 13, k: 80, f.DefaultBlockSize, seed: 14);
        var idx = new HostTensor(TensorElementType.Int64, [2, 3], new long[] { 0, 12, -1, 5, 7, 2 }.SelectMany(BitConverter.GetBytes).ToArray());
        AssertSameBits(MxTensorOpsTests.GatherModel(table), new() { ["idx"] = idx });
    }

    [Test]
    public void MxDequantize_IsBitIdenticalToTheManagedRegistration([Values("mxfp8_e5m2", "mxint4")] string format, [Values] bool constant)
    {
        var p = MxQuantizer.Quantize(PackedMatrix.RandomFloats(3 * 40 * 5, 15), [3, 40, 5], new MxQuantizeOptions(MxFormats.Parse(format)) { Axis = 1 });
        var l = p.Layout;
        var feeds = constant ? new Dictionary<string, HostTensor>() : new Dictionary<string, HostTensor>
        {
            ["e"] = new(TensorElementType.UInt8, [l.Rows, l.RowBytes], p.Elements.ToArray()),
            ["s"] = new(TensorElementType.UInt8, [l.Rows, l.BlocksPerRow], p.Scales.ToArray()),
        };
        AssertSameBits(MxTensorOpsTests.DequantizeModel(p, constant, [3, 40, 5], 1), feeds);
    }

    [Test]
    public void KernelErrorsComeBackThroughTheHost_NamingTheNode()
    {
        var w = new PackedMatrix(MxFormats.Mxfp4E2M1, 4, 32, 32, seed: 1);
        using var options = LibraryOptions();
        var e = Assert.Throws<OrtException>(() => HostTensorSession.FromBytes(OpModels.MatMul(w, ["m", 32L], null, ("N", 5L)), options));
        Assert.That(e!.Message, Does.Contain("mx.onnx.MxMatMul node 'mm0'").And.Contain("W_elements"));
        // A's last dimension is left open in the model, so a wrong K reaches the kernel at run time.
        using var session = HostTensorSession.FromBytes(OpModels.MatMul(w, ["m", "k"], null), options);
        e = Assert.Throws<OrtException>(() => session.Run(new Dictionary<string, HostTensor> { ["A"] = HostTensor.FromFloats(new float[33], 1, 33) }));
        Assert.That(e!.Message, Does.Contain("'mm0'").And.Contain("K = 32"));
    }

    [Test]
    public void ManySessionOptions_OneLibrary_NoCrashAfterTheyAreGone()
    {
        // Each RegisterCustomOpLibrary call makes ORT open the library again and close it with the options; the
        // library stays mapped (-z nodelete), so sessions made later still run.
        var w = new PackedMatrix(MxFormats.Mxint8, 8, 64, 32, seed: 3);
        byte[] model = OpModels.MatMul(w, ["m", 64L], null);
        float[] a = PackedMatrix.RandomFloats(64, 4);
        for (int i = 0; i < 5; i++)
        {
            using var options = LibraryOptions(1);
            using var session = HostTensorSession.FromBytes(model, options);
            Assert.That(OpModels.WorstRelativeError(OpModels.RunY(session, HostTensor.FromFloats(a, 1, 64)), OpModels.Reference(a, 1, w, null), w.Rows), Is.LessThan(1e-5));
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    [Test]
    public unsafe void AHostTooOldOrForeign_GetsAnErrorStatus_NotACrash()
    {
        nint lib = NativeLibrary.Load(LibraryPath());
        var register = (delegate* unmanaged<nint, nint, nint>)NativeLibrary.GetExport(lib, "RegisterCustomOps");
        // A host reporting ONNX Runtime 1.16 (C API 16): refused with a status made by the host's own CreateStatus.
        // (If the library already serves the real runtime in this process, the fake one is refused as a second copy.)
        var (status, message) = FakeApiBase.Use("1.16.0", apiBase => (register(0x1000, apiBase), FakeApiBase.LastStatusMessage));
        Assert.That(status, Is.Not.EqualTo((nint)0));
        Assert.That(message, Does.StartWith("libmxonnx: ").And.Contain("1.16.0"));
        Assert.That(register(0x1000, 0), Is.EqualTo((nint)0), "no OrtApiBase: nothing to make a status with, and no crash");
    }
}
