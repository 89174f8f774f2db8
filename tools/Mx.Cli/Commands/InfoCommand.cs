using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using Mx.Runtime.Cpu;
using Mx.Runtime.Kernels;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx info [--json]</c>: the tool's version, the machine, and the CPU features the kernels detect and may use
/// (after <c>MX_DISABLE_ISA</c>), with whether generated (AVX512_VNNI) kernels can run here.
/// </summary>
public static class InfoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Write the result as JSON" };
        var command = new Command("info", "Version, machine, and the CPU features kernel dispatch detects and uses (MX_DISABLE_ISA masks them)") { json };
        CliContext.SetAction(command, ctx =>
        {
            var info = Collect();
            if (ctx.Get(json))
            {
                ctx.Out.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
                return 0;
            }
            ctx.Out.WriteLine($"mx {info.Version}");
            ctx.Out.WriteLine($"runtime:   .NET {info.Runtime} on {info.Os} ({info.Architecture})");
            ctx.Out.WriteLine($"cpu:       {info.Cpu} ({info.Cores} logical cores)");
            ctx.Out.WriteLine($"detected:  {Names(info.IsaDetected)}");
            ctx.Out.WriteLine($"disabled:  {Names(info.IsaDisabled)}{(info.IsaConfiguration is { } w ? $"   ({w})" : "")}   [{CpuFeatures.DisableVariable}={Environment.GetEnvironmentVariable(CpuFeatures.DisableVariable) ?? ""}]");
            ctx.Out.WriteLine($"enabled:   {Names(info.IsaEnabled)}");
            ctx.Out.WriteLine($"generated kernels: {info.GeneratedKernels}");
            return 0;
        });
        return command;
    }

    /// <summary>What <c>mx info</c> reports.</summary>
    public sealed record Info(string Version, string Runtime, string Os, string Architecture, string Cpu, int Cores,
        string IsaDetected, string IsaDisabled, string IsaEnabled, string? IsaConfiguration, string GeneratedKernels);

    /// <summary>Reads the machine and the dispatch state.</summary>
    public static Info Collect() => new(
        typeof(InfoCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?",
        Environment.Version.ToString(), RuntimeInformation.OSDescription, RuntimeInformation.ProcessArchitecture.ToString(),
        CpuModel(), Environment.ProcessorCount,
        CpuFeatures.Format(CpuFeatures.Detected), CpuFeatures.Format(CpuFeatures.Disabled), CpuFeatures.Format(CpuFeatures.Enabled),
        CpuFeatures.ConfigurationWarning, MxMatMulKernel.GeneratedKernelStatus);

    private static string Names(string list) => list.Length == 0 ? "(none)" : list;

    // "/proc/cpuinfo" model name, family and model, with the AMD core generation where the family tells it (the same
    // "AMD EPYC" name covers Zen 4 and Zen 5 virtual machines).
    private static string CpuModel()
    {
        string name = "unknown", family = "", model = "", vendor = "";
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                string Value() => line[(line.IndexOf(':') + 1)..].Trim();
                if (line.StartsWith("model name", StringComparison.Ordinal)) name = Value();
                else if (line.StartsWith("cpu family", StringComparison.Ordinal)) family = Value();
                else if (line.StartsWith("model", StringComparison.Ordinal) && !line.StartsWith("model name", StringComparison.Ordinal)) model = Value();
                else if (line.StartsWith("vendor_id", StringComparison.Ordinal)) vendor = Value();
                else if (line.Length == 0 && name != "unknown") break;
            }
        }
        catch (IOException) { return name; }
        catch (UnauthorizedAccessException) { return name; }
        if (family.Length == 0) return name;
        string zen = vendor != "AuthenticAMD" || !int.TryParse(family, out int f) || !int.TryParse(model, out int m) ? ""
            : f == 26 ? ", Zen 5"
            : f == 25 && (m is >= 0x10 and <= 0x1F or >= 0x60 and <= 0x7F or >= 0xA0 and <= 0xAF) ? ", Zen 4"
            : f == 25 ? ", Zen 3" : "";
        return $"{name} (family {family}, model {model}{zen})";
    }
}
