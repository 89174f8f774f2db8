using System.CommandLine;

namespace Mx.Cli.Commands;

/// <summary><c>mx inspect</c>: placeholder until the command is written.</summary>
public static class InspectCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("inspect", "(not yet available)");
        CliContext.SetAction(command, ctx => throw new CliException("not yet available"));
        return command;
    }
}
