using System.Text.Json;
using Mx.Runtime.Cpu;

namespace Mx.Cli.Tests;

/// <summary><c>mx bench gemm</c> on a tiny shape: every variant runs, is checked, and the JSON carries the ratios.</summary>
public class BenchGemmCommandTests : CliTest
{
    [Test]
    public void TinyShape_JsonHasEveryVariantAndTheSpeedups()
    {
        var (code, output, err) = Mx("bench", "gemm", "--m", "2", "--k", "64", "--n", "8", "--threads", "1", "--repeat", "1", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(output);
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single();
        var variants = c.GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.That(variants.Keys, Is.SupersetOf(new[] { "ort-fp32", "matmulnbits-acc0", "matmulnbits-acc4", "mx-weight-only", "mx-mxint8-act" }));
        foreach (var (name, v) in variants)
        {
            Assert.That(v.GetProperty("median_us").GetDouble(), Is.GreaterThan(0), name);
            // Each variant's output was compared with a double-precision reference of its own weights.
            Assert.That(v.GetProperty("check_rel_error").GetDouble(), Is.LessThan(name.Contains("acc4") || name.Contains("mxint8") ? 5e-2 : 1e-5), name);
        }
        foreach (string ours in new[] { "mx-weight-only", "mx-mxint8-act" })
        {
            var v = variants[ours];
            double fp32 = variants["ort-fp32"].GetProperty("median_us").GetDouble(), nbits = variants["matmulnbits-acc4"].GetProperty("median_us").GetDouble();
            Assert.That(v.GetProperty("speedup_vs_ort_fp32").GetDouble(), Is.EqualTo(fp32 / v.GetProperty("median_us").GetDouble()).Within(1e-9));
            Assert.That(v.GetProperty("speedup_vs_matmulnbits").GetDouble(), Is.EqualTo(nbits / v.GetProperty("median_us").GetDouble()).Within(1e-9));
        }
    }

    [Test]
    public void Json_NamesTheFeaturesTheTimedKernelsUsed()
    {
        var (code, output, err) = Mx("bench", "gemm", "--m", "1", "--k", "1024", "--n", "16", "--threads", "1", "--repeat", "1", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        using var doc = JsonDocument.Parse(output);
        string isa = doc.RootElement.GetProperty("isa").GetString()!, enabled = doc.RootElement.GetProperty("isa_enabled").GetString()!;
        Assert.That(enabled, Is.EqualTo(CpuFeatures.Format(CpuFeatures.Enabled)));
        Assert.That(doc.RootElement.GetProperty("isa_detected").GetString(), Is.EqualTo(CpuFeatures.Format(CpuFeatures.Detected)));
        // Every feature used is an enabled one, and what the MXFP4 kernels at M = 1 take is named.
        IsaFeatures used = CpuFeatures.Parse(isa);
        Assert.That(used & ~CpuFeatures.Enabled, Is.EqualTo(IsaFeatures.None), isa);
        if (CpuFeatures.Has(IsaFeatures.Avx2 | IsaFeatures.Fma)) Assert.That(isa, Does.StartWith("avx2,fma"));
        if (CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni) && OperatingSystem.IsLinux())
            Assert.That(isa, Does.Contain("avx512vnni"));
    }

    [Test]
    public void PartialShape_IsAnErrorLine()
    {
        var (code, _, err) = Mx("bench", "gemm", "--m", "2");
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err, Does.Contain("--m, --k and --n"));
    }
}
