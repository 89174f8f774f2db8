using System.Text.RegularExpressions;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Tests.Common;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>
/// The feature mask (MX_DISABLE_ISA) and the one place dispatch reads it. test.sh runs these in every kernel profile,
/// so each profile checks that its mask took effect and that no kernel used a masked feature.
/// </summary>
public class CpuFeaturesTests
{
    [Test]
    public void EnabledIsDetectedMinusTheMaskOfThisProcess()
    {
        IsaFeatures mask = CpuFeatures.Parse(Environment.GetEnvironmentVariable(CpuFeatures.DisableVariable));
        Assert.That(CpuFeatures.Disabled, Is.EqualTo(mask));
        Assert.That(CpuFeatures.Enabled, Is.EqualTo(CpuFeatures.Close(CpuFeatures.Detected & ~mask)));
        Assert.That(CpuFeatures.Enabled & mask, Is.EqualTo(IsaFeatures.None));
    }

    [Test]
    public void ParseAcceptsTheDocumentedNamesCaseInsensitively()
    {
        Assert.That(CpuFeatures.Parse("avx512, AVX512VNNI,avxvnni"), Is.EqualTo(IsaFeatures.Avx512 | IsaFeatures.Avx512Vnni | IsaFeatures.AvxVnni));
        Assert.That(CpuFeatures.Parse("avx2,fma,avx512vbmi"), Is.EqualTo(IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.Avx512Vbmi));
        Assert.That(CpuFeatures.Parse(""), Is.EqualTo(IsaFeatures.None));
        Assert.That(CpuFeatures.Parse(null), Is.EqualTo(IsaFeatures.None));
        var e = Assert.Throws<FormatException>(() => CpuFeatures.Parse("avx512,avx512f"))!;
        Assert.That(e.Message, Does.Contain("'avx512f'").And.Contain("avx512vnni"));
    }

    [Test]
    public void FormatListsNamesInAFixedOrder()
    {
        var all = IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni | IsaFeatures.AvxVnni;
        Assert.That(CpuFeatures.Format(all), Is.EqualTo("avx2,fma,avx512,avx512vbmi,avx512vnni,avxvnni"));
        Assert.That(CpuFeatures.Parse(CpuFeatures.Format(all)), Is.EqualTo(all));
        Assert.That(CpuFeatures.Format(IsaFeatures.None), Is.Empty);
    }

    [Test]
    public void DependenciesDropFeaturesWhosePrerequisitesAreMasked()
    {
        var all = IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni | IsaFeatures.AvxVnni;
        Assert.That(CpuFeatures.Close(all & ~IsaFeatures.Avx2), Is.EqualTo(IsaFeatures.Fma));
        Assert.That(CpuFeatures.Close(all & ~IsaFeatures.Fma), Is.EqualTo(IsaFeatures.Avx2));
        Assert.That(CpuFeatures.Close(all & ~IsaFeatures.Avx512), Is.EqualTo(IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.AvxVnni));
        Assert.That(CpuFeatures.Close(all & ~IsaFeatures.AvxVnni), Is.EqualTo(all & ~IsaFeatures.AvxVnni), "the Zen 4 profile keeps AVX-512 VNNI");
    }

    public static IEnumerable<TestCaseData> Kernels() =>
        from f in new[] { "mxfp4_e2m1", "mxint4", "mxint8", "mxfp6_e2m3", "mxfp6_e3m2", "mxfp8_e4m3", "mx6" }
        from mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx }
        select new TestCaseData(f, mode);

    [TestCaseSource(nameof(Kernels))]
    public void KernelsExecuteOnlyEnabledFeatures(string format, MxGemmMode mode)
    {
        var fmt = MxFormats.Parse(format);
        var p = new GemmProblem(format, fmt.DefaultBlockSize, 1, 1100, 9, false);
        using var w = p.Packed.View();
        var kernel = new MxMatMulKernel(w, mode);
        foreach (int m in new[] { 1, 3, 4, 13, 20, 128 })
        {
            IsaFeatures used = kernel.IsaFor(m);
            Assert.That(used & ~CpuFeatures.Enabled, Is.EqualTo(IsaFeatures.None), $"M = {m}: {kernel.Implementation} uses {CpuFeatures.Format(used)} with only {CpuFeatures.Format(CpuFeatures.Enabled)} enabled");
        }
        if (!CpuFeatures.Has(IsaFeatures.Avx2 | IsaFeatures.Fma))
            Assert.That((kernel.Path, kernel.Implementation, kernel.IsaFor(1)), Is.EqualTo((MxKernelPath.Reference, "reference", IsaFeatures.None)));
    }

    [Test]
    public void GeneratedKernelsRunExactlyWhereAvx512VnniIsEnabled()
    {
        var p = new GemmProblem("mxfp4_e2m1", 32, 1, 1100, 9, false);
        using var w = p.Packed.View();
        var kernel = new MxMatMulKernel(w, MxGemmMode.MxMx);
        bool vnni = CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni) && OperatingSystem.IsLinux();
        Assert.That(kernel.Implementation.Contains("generated", StringComparison.Ordinal), Is.EqualTo(vnni), kernel.Implementation);
        Assert.That((kernel.IsaFor(1) & IsaFeatures.Avx512Vnni) != 0, Is.EqualTo(vnni));
        Assert.That(MxMatMulKernel.GeneratedKernelStatus, vnni ? Does.StartWith("avx512vnni") : Does.StartWith("off"));
    }

    // Dispatch happens in one place: nothing under src/ asks the runtime about x86 features except CpuFeatures, so
    // MX_DISABLE_ISA masks every kernel, codec and quantizer.
    [Test]
    public void OnlyCpuFeaturesQueriesTheHardware()
    {
        string src = Path.Combine(TestPaths.RepoRoot, "src");
        var query = new Regex(@"\b(X86Base|Sse\w*|Avx\w*|Fma|Bmi\d|Lzcnt|Popcnt|Vector(128|256|512))(\.\w+)?\.IsSupported\b|\bVector(128|256|512)\.IsHardwareAccelerated\b");
        var offenders = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && Path.GetFileName(f) != "CpuFeatures.cs")
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => query.IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(src, x.f)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.That(offenders, Is.Empty, "ask Mx.Runtime.Cpu.CpuFeatures instead");
    }
}
