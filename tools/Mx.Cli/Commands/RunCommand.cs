using System.CommandLine;

namespace Mx.Cli.Commands;

/// <summary><c>mx run</c>: placeholder until the command is written.</summary>
public static class RunCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("run", "(not yet available)");
        CliContext.SetAction(command, ctx => throw new CliException("not yet available"));
        return command;
    }
}
