using System.CommandLine;
using System.Globalization;
using Mx.Cli.Fuzzing;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx fuzz ops [--count N] [--seed S] [--managed-only]</c>: corrupts packed models (flipped and missing
/// attributes, truncated and oversized packed weights, wrong shapes and dtypes, non-finite scales, bad run-time
/// inputs) and loads each through the managed registration and the native op library. Exit code 1 when any mutant
/// broke a rule (see <see cref="OpsFuzzer"/>); a crash would end the process.
/// </summary>
public static class FuzzCommand
{
    /// <summary>Builds the command (<c>fuzz</c> with the subcommand <c>ops</c>).</summary>
    public static Command Create()
    {
        var count = new Option<int>("--count", "-n") { Description = "Mutants to try", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Random seed (the same seed tries the same mutants)", DefaultValueFactory = _ => 1 };
        var managedOnly = new Option<bool>("--managed-only") { Description = "Only the managed registration (no native op library)" };
        var ops = new Command("ops", "Load corrupted packed models through both registrations of the mx.onnx ops: each must run or give an ORT error naming the node");
        ops.Options.Add(count);
        ops.Options.Add(seed);
        ops.Options.Add(managedOnly);
        CliContext.SetAction(ops, ctx => Execute(ctx, ctx.Get(count), ctx.Get(seed), ctx.Get(managedOnly)));
        var fuzz = new Command("fuzz", "Robustness checks by corrupted inputs");
        fuzz.Subcommands.Add(ops);
        return fuzz;
    }

    private static int Execute(CliContext ctx, int count, int seed, bool managedOnly)
    {
        if (count < 1) throw new CliException($"--count must be at least 1, got {count}", 2);
        string? library = managedOnly ? null : OpsLibraryLocator.Locate();
        using var fuzzer = new OpsFuzzer(library);
        var report = fuzzer.Run(count, seed);
        var c = CultureInfo.InvariantCulture;
        ctx.Out.WriteLine(string.Create(c, $"{report.Mutants} mutants, {report.Loads} loads ({(library is null ? "managed registration" : "managed registration and " + Path.GetFileName(library))}) in {report.Elapsed.TotalSeconds:F1} s"));
        ctx.Out.WriteLine($"  ran: {report.Ran}, ORT errors naming the node or tensor: {report.NamedErrors}, problems: {report.Problems.Count}");
        ctx.Out.WriteLine("  by mutation: " + string.Join(", ", report.ByKind.Select(k => $"{k.Key} {k.Value}")));
        foreach (string p in report.Problems) ctx.Out.WriteLine("  problem: " + p);
        return report.Problems.Count == 0 ? 0 : 1;
    }
}
