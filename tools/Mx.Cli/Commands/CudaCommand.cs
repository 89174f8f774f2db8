using System.CommandLine;
using Mx.Runtime.Cuda;

namespace Mx.Cli.Commands;

/// <summary><c>mx cuda check|bench</c>: GPU availability, device correctness against the CPU reference, and the GPU benchmark table.</summary>
public static class CudaCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("cuda", "Packed MX kernels on NVIDIA GPUs (CUDA driver + NVRTC found at run time)");
        var check = new Command("check", "Report CUDA availability; on a GPU, check every format and odd shapes against the CPU reference");
        CliContext.SetAction(check, Check);
        var bench = new Command("bench", "Benchmark GEMV (M = 1) and GEMM (M = 16 … 4096) against copy bandwidth and cuBLAS bf16");
        CliContext.SetAction(bench, ctx =>
        {
            var device = OpenOrFail();
            ctx.Out.WriteLine(device.Availability);
            CudaBenchmark.Run(device, ctx.Out);
            return 0;
        });
        command.Subcommands.Add(check);
        command.Subcommands.Add(bench);
        return command;
    }

    private static int Check(CliContext ctx)
    {
        var device = OpenOrFail();
        ctx.Out.WriteLine(device.Availability);
        int failed = 0;
        foreach (var r in CudaSelfTest.Run(device))
        {
            if (!r.Passed) failed++;
            ctx.Out.WriteLine($"{(r.Passed ? "ok  " : "FAIL")} {r.Format,-11} M={r.M} K={r.K} N={r.N} bs={r.BlockSize}: max rel error {r.MaxRelativeError:E2} (tolerance {r.Tolerance:E1})");
        }
        if (failed > 0) throw new CliException($"{failed} device results differ from the CPU reference");
        ctx.Out.WriteLine("all device results match the CPU reference");
        return 0;
    }

    private static CudaDevice OpenOrFail()
    {
        var availability = CudaBackend.GetAvailability();
        if (!availability.IsAvailable) throw new CliException($"CUDA not available: {availability.Reason}");
        return CudaBackend.Open();
    }
}
