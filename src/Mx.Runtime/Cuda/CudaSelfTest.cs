using Mx.Runtime.Formats;

namespace Mx.Runtime.Cuda;

/// <summary>
/// Device correctness check (<c>mx cuda check</c>): for every supported format and a set of odd shapes (M = 1 … 130,
/// K not a multiple of the block, N not a multiple of the tile), runs <see cref="CudaMxMatMul"/> and compares with the
/// CPU reference (weights dequantized by <see cref="MxRowCodec"/>, double accumulation). Needs a GPU.
/// </summary>
public static class CudaSelfTest
{
    /// <summary>The shapes checked: (M, K, N, block size).</summary>
    public static IReadOnlyList<(int M, int K, int N, int BlockSize)> Shapes { get; } =
        [(1, 100, 37, 32), (3, 33, 130, 32), (8, 72, 129, 8), (17, 200, 131, 16), (64, 96, 256, 64), (130, 1000, 257, 32)];

    /// <summary>One result line.</summary>
    public sealed record Result(string Format, int M, int K, int N, int BlockSize, double MaxRelativeError, double Tolerance)
    {
        /// <summary>Whether the error is within tolerance.</summary>
        public bool Passed => MaxRelativeError <= Tolerance;
    }

    /// <summary>Runs every format × shape with fp32 activations.</summary>
    public static IEnumerable<Result> Run(CudaDevice device)
    {
        foreach (var format in MxFormats.All.Where(CudaKernelVariant.Supports))
        foreach (var (m, k, n, bs) in Shapes)
            yield return RunOne(device, format, m, k, n, bs, seed: m * 7919 + k * 31 + n + format.Id);
    }

    /// <summary>One product: error relative to Σ|a·w| per output (fp32 FMA GEMV: 1e-5; split-bf16 GEMM: 2^−14).</summary>
    public static unsafe Result RunOne(CudaDevice device, MxFormat format, int m, int k, int n, int bs, int seed)
    {
        var rng = new Random(seed);
        var wt = new float[n * k]; // W transposed: row j = column j of W
        for (int i = 0; i < wt.Length; i++) wt[i] = (float)(rng.NextDouble() * 2 - 1);
        var a = new float[m * k];
        for (int i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        var layout = new MxPackedLayout(format, [k, n], 0, bs);
        var elements = new byte[layout.ElementBytes];
        var scales = new byte[layout.ScaleBytes];
        var deq = new float[n * k];
        for (int j = 0; j < n; j++)
        {
            var e = elements.AsSpan(j * layout.RowBytes, layout.RowBytes);
            var s = scales.AsSpan(j * layout.BlocksPerRow, layout.BlocksPerRow);
            MxRowCodec.Quantize(format, wt.AsSpan(j * k, k), bs, e, s, default);
            MxRowCodec.Dequantize(format, e, s, default, bs, deq.AsSpan(j * k, k));
        }
        var y = new float[m * n];
        using (var op = CudaMxMatMul.Create(device, format, bs, k, n, elements, scales))
            fixed (float* pa = a, py = y) op.Run(pa, m, py);
        double worst = 0;
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double exact = 0, mag = 0;
            for (int t = 0; t < k; t++)
            {
                double p = (double)a[i * k + t] * deq[j * k + t];
                exact += p;
                mag += Math.Abs(p);
            }
            double err = Math.Abs(y[i * n + j] - exact) / Math.Max(mag, 1e-30);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            worst = Math.Max(worst, err);
        }
        double tol = CudaLaunchGeometry.ChooseKind(m) == CudaKernelKind.Gemv ? 1e-5 : Math.Pow(2, -14);
        return new Result(format.Name, m, k, n, bs, worst, tol);
    }
}
