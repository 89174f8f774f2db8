using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Cuda;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Cli;

/// <summary>
/// The one place where the CLI creates ONNX Runtime sessions. Every command that runs a model goes through
/// <see cref="Create"/>, so session-wide choices (threads, custom ops, device) are made identically everywhere.
/// </summary>
internal static class CliSessions
{
    private const string CudaProvider = "CUDAExecutionProvider";

    /// <summary>
    /// Loads <paramref name="modelPath"/> into a session with the MX ops registered. <paramref name="threads"/> sets the
    /// intra-op thread count (null: ORT's default, one per core). <see cref="MxOpsDevice.Cuda"/> appends ORT's CUDA
    /// execution provider (device 0) and runs MxMatMul's CUDA kernels (docs/cuda.md).
    /// </summary>
    /// <exception cref="CliException">The file is missing, CUDA is unavailable, or ORT cannot load the model; the message says which.</exception>
    public static HostTensorSession Create(string modelPath, int? threads = null, MxOpsDevice device = MxOpsDevice.Cpu)
    {
        if (!File.Exists(modelPath)) throw new CliException($"model file not found: {modelPath}");
        if (threads is < 1) throw new CliException($"--threads must be at least 1, got {threads}", 2);
        using var options = device == MxOpsDevice.Cuda ? CudaOptions(threads) : HostTensorSession.CreateOptions(threads);
        try
        {
            return HostTensorSession.FromFile(modelPath, options);
        }
        catch (OrtException e)
        {
            throw new CliException($"cannot load model {modelPath}: {e.OrtMessage}", 1, e);
        }
    }

    /// <summary>Options with the CUDA execution provider and the MX ops for CUDA, after checking that both can run.</summary>
    private static SessionOptions CudaOptions(int? threads)
    {
        if (!OrtEnv.Instance().GetAvailableProviders().Contains(CudaProvider))
            throw new CliException($"--device cuda: this mx runs ONNX Runtime {OrtEnv.Instance().GetVersionString()} without the CUDA execution provider " +
                "(the CPU package Microsoft.ML.OnnxRuntime); the CUDA build of the CLI is tools/Mx.Cli.Gpu, on Microsoft.ML.OnnxRuntime.Gpu.Linux (see docs/cuda.md)");
        if (!CudaBackend.TryGetAvailability(out var availability))
            throw new CliException($"--device cuda: CUDA is not available for the MX kernels: {availability.Reason}");
        var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, IntraOpNumThreads = threads ?? 0 };
        try
        {
            options.AppendExecutionProvider_CUDA(0);
            return options.RegisterMxOps(MxOpsDevice.Cuda);
        }
        catch (OnnxRuntimeException e)
        {
            options.Dispose();
            throw new CliException($"--device cuda: ONNX Runtime's CUDA execution provider cannot start: {OrtExceptions.Split(e).Message}", 1, e);
        }
    }
}
