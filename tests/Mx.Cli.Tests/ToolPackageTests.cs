using System.Diagnostics;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary>
/// The CLI as .NET users receive tools: packed as a tool package, installed from a local folder into a temporary
/// tool path (with its own NuGet package cache, so a stale cached copy cannot stand in), and run.
/// </summary>
public class ToolPackageTests : CliTest
{
    [Test]
    public void PackedTool_InstallsFromALocalFolder_AndInspectsABundledModel()
    {
        string packages = TempPath("packages"), tools = TempPath("tools"), cache = TempPath("nuget");
        string project = Path.Combine(TestPaths.RepoRoot, "tools", "Mx.Cli", "Mx.Cli.csproj");
        // The tests run on a build of the CLI in their own configuration, so packing needs no second build.
        Run("dotnet", ["pack", project, "-c", Configuration, "--no-build", "-o", packages, "--nologo"], cache);
        Assert.That(File.Exists(Path.Combine(packages, "mx.0.1.0.nupkg")), Is.True, "the tool package");
        Run("dotnet", ["tool", "install", "mx", "--tool-path", tools, "--add-source", packages, "--version", "0.1.0"], cache);

        string mx = Path.Combine(tools, "mx");
        string inspect = Run(mx, ["inspect", TestPaths.TestModel("transformer_block.onnx")], cache);
        Assert.That(inspect, Does.Contain("ir_version 10").And.Contain("MatMul"));
        // The installed tool carries the native op library (when it was built: test.sh builds it) and names it.
        if (!File.Exists(Path.Combine(TestPaths.RepoRoot, "src", "Mx.Runtime.Native", "bin", "Release", "ops-library", "libmxonnx.so")))
        {
            Assert.Warn("the native op library is not built (build/build-ops-library.sh), so the tool package does not carry it");
            return;
        }
        string path = Run(mx, ["ops-library"], cache).Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.That(path, Does.StartWith(tools).And.EndWith(".so"));
        Assert.That(File.Exists(path), Is.True, path);
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>Runs a program to completion; returns its standard output, failing the test with its output otherwise.</summary>
    private static string Run(string file, string[] args, string nugetCache)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["NUGET_PACKAGES"] = nugetCache;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.That(process.ExitCode, Is.Zero, $"{file} {string.Join(' ', args)}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }
}
