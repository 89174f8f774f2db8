using System.CommandLine;
using System.CommandLine.Parsing;

namespace Mx.Cli;

/// <summary>
/// What a command's action sees: its parse result, output writers and the global options. Every action runs through
/// <see cref="Execute"/>, the one place that turns exceptions into a one-line error and an exit code.
/// </summary>
public sealed class CliContext
{
    /// <summary><c>--verbose</c>: error messages carry the stack trace.</summary>
    public static readonly Option<bool> VerboseOption = new("--verbose", "-v")
    {
        Description = "Show stack traces with errors",
        Recursive = true,
    };

    private CliContext(ParseResult parse, TextWriter output, TextWriter error)
    {
        Parse = parse;
        Out = output;
        Error = error;
    }

    /// <summary>The parsed command line.</summary>
    public ParseResult Parse { get; }

    /// <summary>Standard output.</summary>
    public TextWriter Out { get; }

    /// <summary>Standard error.</summary>
    public TextWriter Error { get; }

    /// <summary>Whether <c>--verbose</c> was given.</summary>
    public bool Verbose => Parse.GetValue(VerboseOption);

    /// <summary>The value of an option or argument of the command.</summary>
    public T Get<T>(Option<T> option) => Parse.GetValue(option)!;

    /// <inheritdoc cref="Get{T}(Option{T})"/>
    public T Get<T>(Argument<T> argument) => Parse.GetValue(argument)!;

    /// <summary>Attaches <paramref name="body"/> as the action of <paramref name="command"/>, with the CLI's error handling.</summary>
    public static void SetAction(Command command, Func<CliContext, int> body) =>
        command.SetAction(parse => Execute(parse, body));

    /// <summary>
    /// Runs a command body. <see cref="CliException"/> and every other exception become one line on standard error
    /// (<c>mx COMMAND: message</c>, inner messages appended) and exit code 1; <c>--verbose</c> adds the stack trace.
    /// </summary>
    public static int Execute(ParseResult parse, Func<CliContext, int> body)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var ctx = new CliContext(parse, output, error);
        try
        {
            return body(ctx);
        }
        catch (Exception ex)
        {
            error.WriteLine($"mx {CommandPath(parse)}: {OneLine(ex)}");
            if (ctx.Verbose) error.WriteLine(ex.ToString());
            return ex is CliException ce ? ce.ExitCode : 1;
        }
    }

    /// <summary>The command's words below the root, e.g. <c>bench gemm</c>.</summary>
    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c && c.Command is not RootCommand; r = c.Parent)
            names.Insert(0, c.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The exception's message with the messages of its inner exceptions, on one line.</summary>
    public static string OneLine(Exception ex)
    {
        var parts = new List<string>();
        for (Exception? e = ex; e != null; e = e.InnerException)
        {
            // Our own exceptions and the I/O ones carry messages written for people; others get their type for context.
            string m = e is CliException or IOException or UnauthorizedAccessException || e.GetType().Namespace?.StartsWith("Mx.", StringComparison.Ordinal) == true
                ? e.Message
                : $"{e.Message} ({e.GetType().Name})";
            if (parts.Count == 0 || !parts[^1].Contains(e.Message, StringComparison.Ordinal)) parts.Add(m);
        }
        return string.Join(": ", parts).ReplaceLineEndings(" ");
    }
}

/// <summary>A user-facing error: bad arguments or input. Printed as one line; <see cref="ExitCode"/> is returned.</summary>
public sealed class CliException(string message, int exitCode = 1, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The process exit code to return.</summary>
    public int ExitCode { get; } = exitCode;
}
