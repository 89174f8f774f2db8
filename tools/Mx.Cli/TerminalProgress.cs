using Spectre.Console;

namespace Mx.Cli;

/// <summary>
/// Progress bars with the time remaining, one per stage, for a person watching a terminal; redirected output gets none
/// (the summary line alone). Reports arrive on the calling thread and update the bars at once.
/// </summary>
internal static class TerminalProgress
{
    /// <summary>Reports progress of a stage: its name, the steps done, the steps in all, and what it works on now.</summary>
    public delegate void Report(string stage, double done, double total, string? item);

    /// <summary>Runs <paramref name="body"/> with a reporter that drives the bars (null when the output is not a terminal).</summary>
    public static T Run<T>(CliContext ctx, Func<Report?, T> body)
    {
        bool terminal = ReferenceEquals(ctx.Out, Console.Out) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        if (!terminal) return body(null);
        T result = default!;
        AnsiConsole.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(p =>
            {
                var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                result = body((stage, done, total, item) =>
                {
                    if (!tasks.TryGetValue(stage, out var task)) tasks[stage] = task = p.AddTask(Markup.Escape(stage), maxValue: Math.Max(1, total));
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                    task.Description = Markup.Escape(item is null ? stage : $"{stage}: {item}");
                });
            });
        return result;
    }
}
