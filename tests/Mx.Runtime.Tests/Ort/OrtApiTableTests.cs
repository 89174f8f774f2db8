using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ort;

/// <summary>Where the custom-op bridge gets ORT's C API from: the one native library Microsoft's package loaded.</summary>
public class OrtApiTableTests
{
    [Test]
    public void TableComesFromThePackagesRuntime()
    {
        using var options = new SessionOptions().RegisterMxOps();
        Assert.That(OrtApiTable.IsInitialized, Is.True);
        Assert.That(OrtApiTable.RuntimeVersion, Is.EqualTo(OrtEnv.Instance().GetVersionString()));
        Assert.That(OrtApiTable.HostApiVersion, Is.EqualTo(OrtApiTable.ApiVersionOf(OrtApiTable.RuntimeVersion!)).And.GreaterThanOrEqualTo(OrtApiTable.MinimumApiVersion));
    }

    [Test]
    public void OneOnnxRuntimeIsMappedIntoTheProcess()
    {
        if (!File.Exists("/proc/self/maps")) Assert.Ignore("no /proc/self/maps on this system");
        using var options = new SessionOptions().RegisterMxOps();
        using var session = HostTensorSession.FromBytes(new TestModelWriter().Input("x", TensorElementType.Float, 2)
            .Output("y", TensorElementType.Float, 2).Node("Relu", ["x"], ["y"]).ToBytes(), options);
        var copies = ManagedOrtLibrary.LoadedCopies();
        Assert.That(copies, Has.Count.EqualTo(1), string.Join(", ", copies));
        Assert.That(Path.GetFileName(copies[0]), Does.StartWith("libonnxruntime.so"));
    }

    [Test]
    public void ASecondRuntimeIsRefusedWithAReason()
    {
        using var options = new SessionOptions().RegisterMxOps();
        // Any other OrtApiBase* is another ONNX Runtime as far as the table can tell; it is refused, not mixed in.
        string? error = FakeApiBase.Use("1.99.0", apiBase => OrtApiTable.TrySet(apiBase, "a test's ONNX Runtime"));
        Assert.That(error, Does.Contain("a test's ONNX Runtime").And.Contain("1.99.0").And.Contain(OrtApiTable.RuntimeVersion!));
        Assert.That(OrtApiTable.TrySet(0, "nothing"), Does.Contain("null"));
    }

    [TestCase("1.32.0", 32u)]
    [TestCase("1.17.3", 17u)]
    [TestCase("1.20.0-dev", 20u)]
    [TestCase("2.0.0", 0u)]
    [TestCase("garbage", 0u)]
    public void ApiVersionIsTheMinorVersion(string version, uint api) =>
        Assert.That(OrtApiTable.ApiVersionOf(version), Is.EqualTo(api));

    [Test]
    public void ElementTypesConvertAcrossTheEnumTrap()
    {
        foreach (TensorElementType t in Enum.GetValues<TensorElementType>())
            Assert.That(OrtElementTypes.FromOrt(OrtElementTypes.ToOrt(t)), Is.EqualTo(t));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Float8E8M0), Is.EqualTo(26));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.UInt2), Is.EqualTo(24));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Int2), Is.EqualTo(25));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Float4E2M1), Is.EqualTo(23));
        Assert.Throws<ArgumentOutOfRangeException>(() => OrtElementTypes.FromOrt(27));
    }

    [Test]
    public void ManagedElementTypeEnumAgreesWithOrtNumbering()
    {
        // HostTensorSession casts ORT numbers to the package's enum: check the names line up where both have them.
        foreach (var t in new[] { TensorElementType.Float, TensorElementType.UInt8, TensorElementType.Int64, TensorElementType.Bool, TensorElementType.Float16, TensorElementType.Double })
            Assert.That(((Microsoft.ML.OnnxRuntime.Tensors.TensorElementType)OrtElementTypes.ToOrt(t)).ToString(), Is.EqualTo(t.ToString()).IgnoreCase);
    }
}
