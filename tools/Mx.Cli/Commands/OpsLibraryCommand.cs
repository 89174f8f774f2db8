using System.CommandLine;
using System.Diagnostics;
using Mx.Runtime.Ops;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx ops-library</c>: prints the absolute path of the native custom-op library for this CPU (libmxonnx.so or
/// libmxonnx-avx512.so, see docs/ops-library.md) as the last line, for any ONNX Runtime host's
/// <c>RegisterCustomOpsLibrary</c>. Run from a source checkout it builds the library first when needed
/// (build/build-ops-library.sh); an installed tool finds the copy that came with it.
/// </summary>
public static class OpsLibraryCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("ops-library", "Print the path of the native mx.onnx custom-op library for this CPU (built first in a source checkout)");
        CliContext.SetAction(command, Execute);
        return command;
    }

    private static int Execute(CliContext ctx)
    {
        string path = OpsLibraryLocator.Locate();
        string build = Path.GetFileName(path) == MxOpsLibrary.Avx512FileName ? "x86-64-v4 (AVX-512)" : "x86-64-v3 (AVX2)";
        ctx.Out.WriteLine($"mx.onnx custom-op library, {build} build for this CPU; load it with RegisterCustomOpsLibrary in ONNX Runtime 1.17 or later:");
        ctx.Out.WriteLine(path);
        return 0;
    }
}

/// <summary>Finds the native op library for this CPU: built in a source checkout, else the copy beside the installed tool.</summary>
internal static class OpsLibraryLocator
{
    /// <summary>The library's absolute path.</summary>
    /// <exception cref="CliException">It cannot be built or found; the message says why.</exception>
    public static string Locate() => SourceCheckoutScript() is { } script ? Build(script) : MxOpsLibrary.FindBesideApplication()
        ?? throw new CliException($"{MxOpsLibrary.FileNameForThisCpu} is not beside this tool ({AppContext.BaseDirectory}) and this is no source checkout to build it in");
    /// <summary>build/build-ops-library.sh of the checkout this tool was built in, or null for an installed tool.</summary>
    private static string? SourceCheckoutScript()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string script = Path.Combine(d.FullName, "build", "build-ops-library.sh");
            if (File.Exists(Path.Combine(d.FullName, "Mx.Onnx.sln")) && File.Exists(script)) return script;
        }
        return null;
    }

    /// <summary>Runs the build script; returns the path it prints last, or fails with what it wrote to standard error.</summary>
    private static string Build(string script)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        using var process = Process.Start(start) ?? throw new CliException($"cannot start bash to run {script}");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            string reason = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? $"exit code {process.ExitCode}";
            throw new CliException($"building the library failed: {reason}");
        }
        string path = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()?.Trim() ?? "";
        return File.Exists(path) ? path : throw new CliException($"{script} did not name a library file (it printed '{path}')");
    }
}
