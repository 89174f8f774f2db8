using System.CommandLine;
using Mx.Cli.Commands;

namespace Mx.Cli;

/// <summary>Entry point of the <c>mx</c> command-line tool.</summary>
public static class Program
{
    /// <summary>Runs the CLI; returns the process exit code (0 success, 1 error, 2 usage).</summary>
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given writers (tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("mx: make ONNX models small and fast with Microscaling (MX) formats.");
        root.Options.Add(CliContext.VerboseOption);
        // Each command lives in its own file under Commands/ and is listed here.
        foreach (var command in new[]
                 {
                     InfoCommand.Create(),
                     InspectCommand.Create(),
                     RunCommand.Create(),
                     TensorCommand.Create(),
                     BenchCommand.Create(),
                     CudaCommand.Create(),
                     ReportCommand.Create(),
                     QuantizeCommand.Create(),
                     CalibrateCommand.Create(),
                     OpsLibraryCommand.Create(),
                     FuzzCommand.Create(),
                 })
            root.Subcommands.Add(command);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return root.Parse(args).Invoke(config);
    }
}
