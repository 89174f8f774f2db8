using Mx.Runtime.Cuda;

namespace Mx.Runtime.Tests.Cuda;

/// <summary>
/// Compiles every embedded kernel variant with NVRTC for sm_80 and sm_90. Needs libnvrtc (found like the runtime finds it,
/// or named by MX_NVRTC_LIBRARY) but no GPU; skips with the reason when NVRTC is absent.
/// </summary>
public class NvrtcCompileTests
{
    private static Nvrtc RequireNvrtc()
    {
        var nvrtc = Nvrtc.TryLoadFromEnvironment(out string reason);
        if (nvrtc == null) Assert.Ignore($"NVRTC is not available, kernels not compiled: {reason}");
        return nvrtc!;
    }

    // sm_80 and sm_90: every bit width × activation type for both kernels at block size 32; on sm_90 also block sizes
    // 8 (two scales per 16-element span), 16 and 64 at the largest GEMV row count and the smallest GEMM tile.
    private static IEnumerable<TestCaseData> Variants() =>
        from v in CudaKernelVariant.All()
        from arch in new[] { 80, 90 }
        where (v.BlockSize == 32 && v.Tile is 1 or 128)
              || (arch == 90 && v.BlockSize != 32 && ((v.Kind == CudaKernelKind.Gemv && v.Tile == 8 && v.Activation == CudaActivationType.Float32)
                                                      || (v.Kind == CudaKernelKind.Gemm && v.Tile == 32 && v.Activation == CudaActivationType.BFloat16)))
        select new TestCaseData(v, arch).SetArgDisplayNames($"sm_{arch}", v.EntryName, string.Join(" ", v.Defines));

    [TestCaseSource(nameof(Variants))]
    public void EveryKernelVariantCompiles(CudaKernelVariant variant, int arch)
    {
        var nvrtc = RequireNvrtc();
        var supported = nvrtc.SupportedArchitectures();
        if (supported.Count > 0 && !supported.Contains(arch)) Assert.Ignore($"NVRTC {nvrtc.Version} cannot target sm_{arch}");
        var output = nvrtc.Compile(CudaKernelSources.Get(variant.SourceName), variant.SourceName, CudaKernelSources.Headers, arch, variant.Defines);
        Assert.That(output.Cubin, Is.Not.Empty);
        Assert.That(output.Ptx, Does.Contain($".entry {variant.EntryName}("));
        if (variant.Kind == CudaKernelKind.Gemm) Assert.That(output.Ptx, Does.Contain("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"));
        else Assert.That(output.Ptx, Does.Contain("shfl.sync.bfly"));
    }

    [Test]
    public void CompileErrorsCarryTheProgramLog()
    {
        var nvrtc = RequireNvrtc();
        var variant = new CudaKernelVariant(CudaKernelKind.Gemv, 4, 32, CudaActivationType.Float32, 1, false);
        var e = Assert.Throws<CudaException>(() =>
            nvrtc.Compile(CudaKernelSources.Get(variant.SourceName), variant.SourceName, CudaKernelSources.Headers, 80, ["-DMX_BITS=5", "-DMX_BS=32", "-DMX_ACT=0", "-DMX_GEMV_ROWS=1"]));
        Assert.That(e!.Message, Does.Contain("MX_BITS must be 4, 6 or 8").And.Contain("NVRTC_ERROR_COMPILATION"));
    }

    [Test]
    public void CompileCacheCompilesOnceThenReads()
    {
        var nvrtc = RequireNvrtc();
        string dir = Path.Combine(Path.GetTempPath(), $"mx-cuda-cache-{Guid.NewGuid():N}");
        try
        {
            var cache = new CudaCompileCache(dir);
            var variant = new CudaKernelVariant(CudaKernelKind.Gemv, 6, 32, CudaActivationType.BFloat16, 2, false);
            byte[] first = cache.GetOrCompile(nvrtc, variant, 80, out bool firstCached);
            byte[] second = cache.GetOrCompile(nvrtc, variant, 80, out bool secondCached);
            Assert.That(firstCached, Is.False);
            Assert.That(secondCached, Is.True);
            Assert.That(second, Is.EqualTo(first));
            Assert.That(Directory.GetFiles(dir), Has.Length.EqualTo(1), "one file, no temporary left behind");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
