using Mx.Tests.Common;
using Mx.Runtime.Cuda;
using Mx.Runtime.Formats;

namespace Mx.Runtime.Tests.Cuda;

/// <summary>Host-side parts of the CUDA backend: no GPU, driver or NVRTC needed.</summary>
public class CudaHostTests
{
    [Test]
    public void EveryKernelSourceIsEmbeddedAndNonEmpty()
    {
        string dir = Path.Combine(TestPaths.RepoRoot, "src", "Mx.Runtime", "Cuda", "Kernels");
        var files = Directory.GetFiles(dir).Select(f => Path.GetFileName(f)).Where(f => f.EndsWith(".cu") || f.EndsWith(".cuh")).ToArray();
        Assert.That(files, Is.Not.Empty);
        Assert.That(CudaKernelSources.All.Keys, Is.EquivalentTo(files));
        foreach (string f in files) Assert.That(CudaKernelSources.Get(f), Is.EqualTo(File.ReadAllText(Path.Combine(dir, f))), f);
        Assert.That(CudaKernelSources.Headers.Keys, Is.EquivalentTo(files.Where(f => f.EndsWith(".cuh"))));
        foreach (var v in CudaKernelVariant.All().DistinctBy(v => v.SourceName))
            Assert.That(CudaKernelSources.Get(v.SourceName), Does.Contain($"{v.EntryName}("));
        var e = Assert.Throws<KeyNotFoundException>(() => CudaKernelSources.Get("nope.cu"));
        Assert.That(e!.Message, Does.Contain("nope.cu").And.Contain("mx_gemv.cu"));
    }

    [Test]
    public void CacheKeysDependOnEveryInput()
    {
        var h = new Dictionary<string, string> { ["a.cuh"] = "x" };
        string Key(string src = "s", string hdr = "x", string opt = "-DA=1", int arch = 80, string ver = "12.4") =>
            CudaCompileCache.Key(src, new Dictionary<string, string> { ["a.cuh"] = hdr }, [opt], arch, ver);
        string baseKey = Key();
        Assert.That(Key(), Is.EqualTo(baseKey), "deterministic");
        var others = new[] { Key(src: "t"), Key(hdr: "y"), Key(opt: "-DA=2"), Key(arch: 90), Key(ver: "12.5") };
        Assert.That(others, Has.None.EqualTo(baseKey));
        Assert.That(others.Distinct().Count(), Is.EqualTo(others.Length));
        // Length prefixes: moving text between source and option does not collide.
        Assert.That(CudaCompileCache.Key("ab", h, ["c"], 80, "1"), Is.Not.EqualTo(CudaCompileCache.Key("a", h, ["bc"], 80, "1")));
        var variantA = new CudaKernelVariant(CudaKernelKind.Gemm, 4, 32, CudaActivationType.BFloat16, 128, false);
        Assert.That(variantA.Defines, Is.Not.EqualTo((variantA with { Bits = 6 }).Defines));
    }

    [Test]
    public void CacheDirectoryFollowsTheEnvironment()
    {
        Assert.That(CudaCompileCache.DefaultDirectory(v => v == CudaLibraryPaths.CacheVariable ? "/c" : "/x"), Is.EqualTo("/c"));
        Assert.That(CudaCompileCache.DefaultDirectory(v => v == "XDG_CACHE_HOME" ? "/xdg" : null), Is.EqualTo(Path.Combine("/xdg", "mx-onnx", "cuda")));
        Assert.That(CudaCompileCache.DefaultDirectory(v => v == "HOME" ? "/home/u" : null), Is.EqualTo(Path.Combine("/home/u", ".cache", "mx-onnx", "cuda")));
    }

    [TestCase(1), TestCase(2), TestCase(3), TestCase(8), TestCase(9), TestCase(16), TestCase(33), TestCase(64), TestCase(65), TestCase(4096)]
    public void KernelChoiceAndGridCoverEveryOutput(int m)
    {
        foreach (var format in MxFormats.All.Where(CudaKernelVariant.Supports))
        foreach (int n in new[] { 1, 37, 128, 129, 28672 })
        {
            var v = CudaKernelVariant.For(format, 32, CudaActivationType.Float32, m);
            var l = CudaLaunchGeometry.For(v, m, n, 8192);
            if (m <= CudaLaunchGeometry.GemvMaxRows)
            {
                Assert.That(v.Kind, Is.EqualTo(CudaKernelKind.Gemv));
                Assert.That(v.Tile, Is.GreaterThanOrEqualTo(m).And.LessThan(2 * m + 1));
                Assert.That((long)l.GridX * CudaLaunchGeometry.GemvWarps, Is.GreaterThanOrEqualTo(n).And.LessThan(n + CudaLaunchGeometry.GemvWarps));
                Assert.That(l.BlockX, Is.EqualTo(CudaLaunchGeometry.GemvWarps * 32));
                Assert.That(l.DynamicSharedBytes, Is.Zero);
            }
            else
            {
                Assert.That(v.Kind, Is.EqualTo(CudaKernelKind.Gemm));
                Assert.That(v.SplitA, Is.True, "fp32 activations use the split bf16 product");
                Assert.That((long)l.GridX * CudaLaunchGeometry.GemmTileN, Is.GreaterThanOrEqualTo(n).And.LessThan(n + CudaLaunchGeometry.GemmTileN));
                Assert.That(l.BlockX, Is.EqualTo(CudaLaunchGeometry.GemmThreads));
                Assert.That(l.DynamicSharedBytes, Is.LessThanOrEqualTo(CudaLaunchGeometry.DefaultSharedLimit));
            }
            Assert.That((long)l.GridY * v.Tile, Is.GreaterThanOrEqualTo(m).And.LessThan(m + v.Tile));
        }
    }

    [Test]
    public void GemmSharedMemoryIsTableWTileAndATiles()
    {
        var v = new CudaKernelVariant(CudaKernelKind.Gemm, 8, 32, CudaActivationType.Float32, 128, true);
        int row = CudaLaunchGeometry.GemmRowStride * 2;
        Assert.That(CudaLaunchGeometry.GemmSharedBytes(v), Is.EqualTo(256 * 4 + (128 + 2 * 128) * row));
        Assert.That(CudaLaunchGeometry.GemmSharedBytes(v with { SplitA = false, Bits = 4 }), Is.EqualTo(16 * 4 + (128 + 128) * row));
        // Padded rows: 16-byte aligned and an odd number of 16-byte chunks… (conflict-free fragment loads need stride ≠ 0 mod 128 bytes).
        Assert.That(row % 16, Is.Zero);
        Assert.That(row % 128, Is.Not.Zero);
    }

    [Test]
    public void BadSizesAndFormatsGiveClearErrors()
    {
        var v = CudaKernelVariant.For(MxFormats.Mxfp4E2M1, 32, CudaActivationType.Float32, 1);
        Assert.That(Assert.Throws<ArgumentException>(() => CudaLaunchGeometry.For(v, 1, 0, 32))!.Message, Does.Contain("N = 0"));
        var big = CudaKernelVariant.For(MxFormats.Mxfp4E2M1, 32, CudaActivationType.Float32, 100_000_000);
        Assert.That(Assert.Throws<ArgumentException>(() => CudaLaunchGeometry.For(big, 100_000_000, 8, 32))!.Message, Does.Contain("split the batch"));
        var e = Assert.Throws<NotSupportedException>(() => CudaKernelVariant.For(MxFormats.Mx6, 16, CudaActivationType.Float32, 1));
        Assert.That(e!.Message, Does.Contain("mx6").And.Contain("mxfp4_e2m1"));
        Assert.Throws<NotSupportedException>(() => CudaKernelVariant.EnsureSupported(MxFormats.Mxfp8E4M3, 24));
        Assert.Throws<ArgumentOutOfRangeException>(() => CudaKernelVariant.For(MxFormats.Mxint8, 32, CudaActivationType.Float32, 0));
    }

    [TestCase(8192, 8192, 32), TestCase(100, 37, 32), TestCase(33, 5, 8), TestCase(65, 3, 64)]
    public void WeightBytesFollowThePackedLayout(int k, int n, int bs)
    {
        foreach (var format in MxFormats.All.Where(CudaKernelVariant.Supports))
        {
            var (elements, scales) = CudaLaunchGeometry.WeightBytes(format, bs, k, n);
            long nb = (k + bs - 1) / bs;
            Assert.That(scales, Is.EqualTo(n * nb));
            Assert.That(elements, Is.EqualTo(n * nb * bs * format.ElementBits / 8));
            // Each block starts on a byte, and the kernels' widest aligned load divides the block.
            Assert.That(bs * format.ElementBits % 8, Is.Zero);
        }
    }

    [Test]
    public void MissingOrBogusDriverGivesAReasonNamingThePath()
    {
        string bogus = Path.Combine(Path.GetTempPath(), $"mx-bogus-libcuda-{Guid.NewGuid():N}.so");
        File.WriteAllText(bogus, "not a library");
        string absent = Path.Combine(Path.GetTempPath(), $"mx-absent-{Guid.NewGuid():N}.so.1");
        try
        {
            foreach (string path in new[] { bogus, absent })
            {
                var a = CudaBackend.ProbeAvailability(path, null);
                Assert.That(a.IsAvailable, Is.False);
                Assert.That(a.Reason, Does.Contain(path).And.Contain(CudaLibraryPaths.DriverVariable));
                Assert.That(a.ToString(), Does.StartWith("CUDA not available: "));
            }
            Assert.That(CudaBackend.ProbeAvailability(absent, null).Reason, Does.Contain("file not found"));
        }
        finally
        {
            File.Delete(bogus);
        }
    }

    [Test]
    public void DefaultSearchListsEveryCandidateOrFindsAGpu()
    {
        var a = CudaBackend.GetAvailability();
        if (a.IsAvailable)
        {
            Assert.That(a.ComputeCapability, Is.GreaterThanOrEqualTo(CudaAvailability.MinimumComputeCapability));
            return;
        }
        Assert.That(a.Reason, Is.Not.Empty);
        if (a.DriverPath == null)
            foreach (string c in CudaLibraryPaths.DriverCandidates(Environment.GetEnvironmentVariable(CudaLibraryPaths.DriverVariable)))
                Assert.That(a.Reason, Does.Contain(c));
        Assert.Throws<CudaUnavailableException>(() => CudaBackend.Open());
    }

    [Test]
    public void NvrtcSearchProbesEverySonameAndReportsThem()
    {
        var c = CudaLibraryPaths.NvrtcCandidates(null);
        foreach (string so in new[] { "libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2", "libnvrtc.so" }) Assert.That(c, Does.Contain(so));
        Assert.That(CudaLibraryPaths.NvrtcCandidates("/x/libnvrtc.so.12"), Is.EqualTo(new[] { "/x/libnvrtc.so.12" }));
        string absent = Path.Combine(Path.GetTempPath(), $"mx-absent-nvrtc-{Guid.NewGuid():N}.so");
        Assert.That(Nvrtc.TryLoad([absent], out string reason), Is.Null);
        Assert.That(reason, Does.Contain(absent).And.Contain(CudaLibraryPaths.NvrtcVariable));
    }
}
