namespace Mx.Cli.Tests;

/// <summary>
/// Base of the CLI tests: runs <c>mx</c> in-process (<see cref="Program.Run"/>) with captured output, and gives each
/// test a fresh temporary folder, deleted afterwards.
/// </summary>
public abstract class CliTest
{
    /// <summary>The test's temporary folder.</summary>
    protected string Dir { get; private set; } = "";

    [SetUp]
    public void CreateTemporaryFolder()
    {
        Dir = Path.Combine(Path.GetTempPath(), $"mx-cli-{GetType().Name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Dir);
    }

    [TearDown]
    public void DeleteTemporaryFolder()
    {
        if (Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }

    /// <summary>A path inside <see cref="Dir"/>.</summary>
    protected string TempPath(string name) => Path.Combine(Dir, name);

    /// <summary>Runs <c>mx</c> with <paramref name="args"/>; returns the exit code, standard output and standard error.</summary>
    protected static (int Code, string Out, string Err) Mx(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
