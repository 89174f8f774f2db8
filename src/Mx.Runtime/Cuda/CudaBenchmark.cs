using Mx.Runtime.Formats;

namespace Mx.Runtime.Cuda;

/// <summary>
/// The GPU benchmark table (<c>mx cuda bench</c>): for (K, N) ∈ {(8192, 8192), (8192, 28672)} the device-to-device
/// copy bandwidth of the weight-sized buffer (the roofline), cuBLAS bf16 GEMM (the dense baseline), and the packed MX
/// kernels with bf16 activations at M = 1 (GEMV) and M = 16 … 4096 (GEMM). Weights are random codes with scale 127
/// (timing does not depend on values). Needs a GPU.
/// </summary>
public static class CudaBenchmark
{
    /// <summary>The (K, N) weight shapes.</summary>
    public static IReadOnlyList<(int K, int N)> Shapes { get; } = [(8192, 8192), (8192, 28672)];

    /// <summary>The M values.</summary>
    public static IReadOnlyList<int> Rows { get; } = [1, 16, 64, 256, 1024, 4096];

    /// <summary>The formats.</summary>
    public static IReadOnlyList<MxFormat> Formats { get; } = [MxFormats.Mxfp4E2M1, MxFormats.Mxfp6E2M3, MxFormats.Mxfp8E4M3, MxFormats.Mxint8];

    /// <summary>Runs the table, writing one line per measurement to <paramref name="output"/>.</summary>
    public static void Run(CudaDevice device, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(output);
        using var cublas = Cublas.TryCreate(device, out string cublasReason);
        if (cublas == null) output.WriteLine($"# cuBLAS baseline skipped: {cublasReason}");
        output.WriteLine("kernel\tformat\tK\tN\tM\tms\tGB/s\tTFLOP/s");
        var rng = new Random(1);
        foreach (var (k, n) in Shapes)
        {
            int maxM = Rows.Max();
            using var a = device.Allocate((long)maxM * k * 2);
            using var y = device.Allocate((long)maxM * n * 4);
            using (var dense = device.Allocate((long)n * k * 2))
            using (var copy = device.Allocate((long)n * k * 2))
            {
                float ms = device.Time(() => device.CopyAsync(dense.Pointer, copy.Pointer, dense.Bytes));
                output.WriteLine($"copy\tbf16\t{k}\t{n}\t-\t{ms:F4}\t{2.0 * dense.Bytes / ms / 1e6:F0}\t-");
                if (cublas != null)
                    foreach (int m in Rows)
                    {
                        float t = device.Time(() => cublas.GemmBf16(a.Pointer, dense.Pointer, y.Pointer, m, n, k));
                        output.WriteLine($"cublas\tbf16\t{k}\t{n}\t{m}\t{t:F4}\t{(double)dense.Bytes / t / 1e6:F0}\t{2.0 * m * n * k / t / 1e9:F1}");
                    }
            }
            foreach (var format in Formats)
            {
                var layout = new MxPackedLayout(format, [k, n], 0, 32);
                var elements = new byte[layout.ElementBytes];
                rng.NextBytes(elements);
                var scales = new byte[layout.ScaleBytes];
                Array.Fill(scales, (byte)127);
                using var op = CudaMxMatMul.Create(device, format, 32, k, n, elements, scales);
                foreach (int m in Rows)
                {
                    float t = device.Time(() => op.Launch(a.Pointer, CudaActivationType.BFloat16, m, y.Pointer));
                    string kind = CudaLaunchGeometry.ChooseKind(m) == CudaKernelKind.Gemv ? "mx_gemv" : "mx_gemm";
                    output.WriteLine($"{kind}\t{format.Name}\t{k}\t{n}\t{m}\t{t:F4}\t{(double)(layout.ElementBytes + layout.ScaleBytes) / t / 1e6:F0}\t{2.0 * m * n * k / t / 1e9:F1}");
                }
            }
        }
    }
}
