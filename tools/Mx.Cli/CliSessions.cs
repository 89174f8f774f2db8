using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Cli;

/// <summary>
/// The one place where the CLI creates ONNX Runtime sessions. Every command that runs a model goes through
/// <see cref="Create"/>, so session-wide choices (threads, custom ops) are made identically everywhere.
/// </summary>
internal static class CliSessions
{
    /// <summary>
    /// Loads <paramref name="modelPath"/> into a session. <paramref name="threads"/> sets the intra-op thread count
    /// (null: ORT's default, one per core).
    /// </summary>
    /// <exception cref="CliException">The file is missing or ORT cannot load it; the message names the file.</exception>
    public static HostTensorSession Create(string modelPath, int? threads = null)
    {
        if (!File.Exists(modelPath)) throw new CliException($"model file not found: {modelPath}");
        if (threads is < 1) throw new CliException($"--threads must be at least 1, got {threads}", 2);
        // The project's own custom ops (domain mx.onnx: MxMatMul, MxGather, ...): every CLI session can run packed models.
        using var options = HostTensorSession.CreateOptions(threads);
        try
        {
            return HostTensorSession.FromFile(modelPath, options);
        }
        catch (OrtException e)
        {
            throw new CliException($"cannot load model {modelPath}: {e.OrtMessage}", 1, e);
        }
    }
}
