using System.Diagnostics;

namespace Mx.Runtime.Tests.Kernels.Jit;

/// <summary>Runs GNU as on one line of Intel-syntax assembly and returns the bytes of .text as lower-case hex.</summary>
internal static class AssemblerOnPath
{
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    public static string Assemble(string gas, string objcopy, string dir, string line)
    {
        string src = Path.Combine(dir, "one.s"), obj = Path.Combine(dir, "one.o"), bin = Path.Combine(dir, "one.bin");
        File.WriteAllText(src, $".intel_syntax noprefix\n{line}\n");
        Run(gas, $"--64 -o \"{obj}\" \"{src}\"");
        Run(objcopy, $"-O binary -j .text \"{obj}\" \"{bin}\"");
        return Convert.ToHexStringLower(File.ReadAllBytes(bin));
    }

    private static void Run(string exe, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(exe, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(exe)} {args} failed: {err}");
    }
}
