using System.Diagnostics;
using System.Text.Json;
using Mx.Runtime.Cpu;

namespace Mx.Cli.Tests;

/// <summary><c>mx info</c>: the detected and enabled CPU features, in-process and in a child process with MX_DISABLE_ISA set.</summary>
public class InfoCommandTests : CliTest
{
    [Test]
    public void PrintsDetectedAndEnabledFeatures()
    {
        var (code, output, err) = Mx("info");
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(output, Does.Contain($"detected:  {Names(CpuFeatures.Detected)}"));
        Assert.That(output, Does.Contain($"enabled:   {Names(CpuFeatures.Enabled)}"));
        Assert.That(output, Does.Contain("generated kernels:"));
    }

    // MX_DISABLE_ISA is read once per process, so the masked run is a child process of the built CLI.
    [Test]
    public void DisableVariableMasksFeaturesInANewProcess()
    {
        string mx = Path.Combine(AppContext.BaseDirectory, "mx.dll");
        Assume.That(File.Exists(mx), $"{mx} not built beside the tests");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(mx);
        psi.ArgumentList.Add("info");
        psi.ArgumentList.Add("--json");
        psi.Environment[CpuFeatures.DisableVariable] = "avx512, nosuchfeature";
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        IsaFeatures enabled = CpuFeatures.Parse(root.GetProperty("isa_enabled").GetString());
        Assert.That(enabled & (IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni), Is.EqualTo(IsaFeatures.None));
        Assert.That(root.GetProperty("isa_detected").GetString(), Is.EqualTo(CpuFeatures.Format(CpuFeatures.Detected)));
        Assert.That(root.GetProperty("isa_disabled").GetString(), Is.EqualTo("avx512"));
        Assert.That(root.GetProperty("isa_configuration").GetString(), Does.Contain("'nosuchfeature'"));
        Assert.That(stderr, Does.Contain("'nosuchfeature'"), "the unknown name is reported once on stderr");
    }

    private static string Names(IsaFeatures f) => f == IsaFeatures.None ? "(none)" : CpuFeatures.Format(f);
}
