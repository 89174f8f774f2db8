using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>One GEMM test problem: packed weight, activations, bias, and the double-precision references.</summary>
internal sealed unsafe class GemmProblem
{
    public GemmProblem(string format, int blockSize, int m, int k, int n, bool bias, int seed = 1)
    {
        var rng = new Random(seed * 7919 + m * 31 + k * 17 + n);
        Format = MxFormats.Parse(format);
        M = m; K = k; N = n;
        Packed = TestPacker.Pack(Format, TestPacker.RandomMatrix(rng, n, k, blockSize), n, k, blockSize);
        A = new float[m * k];
        for (int i = 0; i < A.Length; i++) A[i] = (float)TestPacker.Gaussian(rng);
        Bias = bias ? Enumerable.Range(0, n).Select(_ => (float)TestPacker.Gaussian(rng)).ToArray() : [];
    }

    public MxFormat Format { get; }
    public int M { get; }
    public int K { get; }
    public int N { get; }
    public PackedData Packed { get; }
    public float[] A { get; }
    public float[] Bias { get; }

    public override string ToString() => $"{Format.Name}/bs{Packed.BlockSize} M={M} K={K} N={N}{(Bias.Length > 0 ? " +bias" : "")}";

    /// <summary>Weight-only reference: the test-side dequantized weight, products and sums in double.</summary>
    public double[] ReferenceWeightOnly()
    {
        var y = new double[M * N];
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++)
            {
                double s = Bias.Length > 0 ? Bias[c] : 0;
                for (int i = 0; i < K; i++) s += (double)A[r * K + i] * Packed.Dequantized[c * K + i];
                y[r * N + c] = s;
            }
        return y;
    }

    /// <summary>
    /// MX×MX reference: A quantized by the product's activation quantizer (tested on its own), every product of the
    /// quantized values and the test-side dequantized weight summed in double.
    /// </summary>
    public double[] ReferenceMxMx()
    {
        int bs = Packed.BlockSize, nb = (K + bs - 1) / bs, kp = nb * bs;
        var codes = new sbyte[M * kp];
        var scales = new byte[M * nb];
        fixed (float* a = A)
        fixed (sbyte* q = codes)
        fixed (byte* s = scales)
            for (int r = 0; r < M; r++)
                ActivationQuantizer.QuantizeRow(a + r * K, K, bs, q + r * kp, s + r * nb);
        var y = new double[M * N];
        for (int r = 0; r < M; r++)
            for (int c = 0; c < N; c++)
            {
                double sum = Bias.Length > 0 ? Bias[c] : 0;
                for (int i = 0; i < K; i++)
                {
                    byte sb = scales[r * nb + i / bs];
                    double xa = sb == 0xFF ? double.NaN : Math.ScaleB(1.0, sb - 127);
                    sum += codes[r * kp + i] / 64.0 * xa * Packed.Dequantized[c * K + i];
                }
                y[r * N + c] = sum;
            }
        return y;
    }

    public float[] Run(MxGemmMode mode, MxKernelPath path, IParallelRunner runner)
    {
        using var w = Packed.View();
        var kernel = new MxMatMulKernel(w, mode, path);
        var y = new float[M * N];
        kernel.Run(A, M, Bias, y, runner);
        return y;
    }

    /// <summary>Largest |got − want| of a row divided by the rms of that row of <paramref name="want"/>.</summary>
    public double WorstRelativeError(float[] got, double[] want)
    {
        double worst = 0;
        for (int r = 0; r < M; r++)
        {
            double ss = 0, err = 0;
            for (int c = 0; c < N; c++)
            {
                ss += want[r * N + c] * want[r * N + c];
                err = Math.Max(err, Math.Abs(got[r * N + c] - want[r * N + c]));
            }
            double rms = Math.Sqrt(ss / N);
            worst = Math.Max(worst, rms == 0 ? err : err / rms);
        }
        return worst;
    }

    public double WorstRelativeError(float[] got, float[] want) => WorstRelativeError(got, want.Select(v => (double)v).ToArray());
}
