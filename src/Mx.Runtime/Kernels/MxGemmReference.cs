namespace Mx.Runtime.Kernels;

/// <summary>
/// The plain reference kernels: one output at a time, weights decoded element by element through the code → value
/// table, products accumulated in double. Slow and obviously right; the SIMD kernels are tested against these, and
/// they run where AVX2/FMA are missing. Bias is optional (null).
/// </summary>
internal static unsafe class MxGemmReference
{
    /// <summary>Y[m, n] = Σ_k A[m, k] · W[n, k] (+ bias[n]), W dequantized exactly, accumulated in double.</summary>
    public static void WeightOnly(MxPackedWeight w, float* a, int m, float* bias, float* y, int n0, int n1)
    {
        float* table = FormatTables.For(w.Format).Floats;
        for (int n = n0; n < n1; n++)
            for (int r = 0; r < m; r++)
            {
                double sum = 0;
                float* ar = a + (long)r * w.K;
                for (int j = 0; j < w.BlocksPerRow; j++)
                {
                    double scale = FormatTables.E8M0Double(w.Scales[(long)n * w.BlocksPerRow + j]);
                    int len = Math.Min(w.BlockSize, w.K - j * w.BlockSize);
                    for (int i = 0; i < len; i++)
                        sum += (double)ar[j * w.BlockSize + i] * (ScalarBlockDecoder.Value(w, table, n, j, i) * scale);
                }
                y[(long)r * w.Rows + n] = (float)(sum + (bias == null ? 0 : bias[n]));
            }
    }

    /// <summary>
    /// MX×MX: A quantized per block to MXINT8 (<see cref="ActivationQuantizer"/>), then
    /// Y[m, n] = Σ_blocks X_a · X_w · Σ_i P_a,i · P_w,i (+ bias[n]), everything in double (exact products).
    /// <paramref name="codes"/> ([m, Kp]) and <paramref name="scales"/> ([m, nb]) hold the quantized activations.
    /// </summary>
    public static void MxMx(MxPackedWeight w, sbyte* codes, byte* scales, int m, float* bias, float* y, int n0, int n1)
    {
        float* table = FormatTables.For(w.Format).Floats;
        for (int n = n0; n < n1; n++)
            for (int r = 0; r < m; r++)
            {
                double sum = 0;
                for (int j = 0; j < w.BlocksPerRow; j++)
                {
                    double blockDot = 0;
                    for (int i = 0; i < w.BlockSize; i++)
                        blockDot += codes[(long)r * w.PaddedK + j * w.BlockSize + i] * (double)ScalarBlockDecoder.Value(w, table, n, j, i);
                    sum += blockDot / 64 * FormatTables.E8M0Double(scales[(long)r * w.BlocksPerRow + j])
                                         * FormatTables.E8M0Double(w.Scales[(long)n * w.BlocksPerRow + j]);
                }
                y[(long)r * w.Rows + n] = (float)(sum + (bias == null ? 0 : bias[n]));
            }
    }

    /// <summary>Quantizes all <paramref name="m"/> rows of A (row length K) into [m, Kp] codes and [m, nb] scale bytes.</summary>
    public static void QuantizeActivations(MxPackedWeight w, float* a, int m, sbyte* codes, byte* scales)
    {
        for (int r = 0; r < m; r++)
            ActivationQuantizer.QuantizeRow(a + (long)r * w.K, w.K, w.BlockSize, codes + (long)r * w.PaddedK, scales + (long)r * w.BlocksPerRow);
    }
}
