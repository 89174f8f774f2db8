namespace Mx.Runtime.Ort;

/// <summary>
/// The process's one <c>OrtEnv</c>, created on first use (thread-safe) and kept for the life of the process.
/// ORT's own log goes to standard error at FATAL severity only: errors reach callers as <see cref="OrtException"/>s,
/// so command-line tools keep their one-line error output.
/// </summary>
public static unsafe class OrtEnvironment
{
    private const int LogLevelFatal = 4;
    private static readonly Lazy<nint> s_env = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The native <c>OrtEnv*</c>.</summary>
    internal static nint Handle => s_env.Value;

    private static nint Create()
    {
        fixed (byte* id = "mx"u8)
        {
            OrtNative.Check(OrtNative.CreateEnv(LogLevelFatal, id, out nint env), "creating the ONNX Runtime environment");
            return env;
        }
    }
}
