namespace Mx.Cli.Cuda;

/// <summary>Entry point of <c>mx-cuda</c>: the same commands as <c>mx</c>, on ONNX Runtime's CUDA build.</summary>
public static class Program
{
    /// <summary>Runs the CLI (see <see cref="Mx.Cli.Program"/>).</summary>
    public static int Main(string[] args) => Mx.Cli.Program.Main(args);
}
