using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Kernels;

/// <summary>
/// Quantizes activations to MXINT8 per block along K for the MX×MX kernels: OCP floor scale rule
/// (e = floor(log2 amax), clamped to [−127, 127]; MXINT8 has emax 0), codes = round-half-even(v · 2^(6−e)) saturated to
/// ±127, all-zero block → scale byte 0, a block holding NaN/±Inf → scale byte 0xFF (NaN) with codes 0.
/// Padding (k ≥ K) gets code 0. Scalar on purpose: it is O(M·K) against the GEMM's O(M·K·N), and one implementation
/// means kernel and reference see the very same codes.
/// </summary>
internal static unsafe class ActivationQuantizer
{
    /// <summary>Quantizes one row of <paramref name="k"/> floats into <c>nb·bs</c> codes and <c>nb</c> scale bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(float* a, int k, int blockSize, sbyte* codes, byte* scales)
    {
        int nb = (k + blockSize - 1) / blockSize;
        for (int j = 0; j < nb; j++)
        {
            int k0 = j * blockSize, len = Math.Min(blockSize, k - k0);
            sbyte* q = codes + k0;
            float amax = 0;
            bool finite = true;
            for (int i = 0; i < len; i++)
            {
                float v = a[k0 + i];
                if (!float.IsFinite(v)) finite = false;
                amax = Math.Max(amax, Math.Abs(v));
            }
            new Span<sbyte>(q, blockSize).Clear();
            if (!finite) { scales[j] = 0xFF; continue; }
            if (amax == 0) { scales[j] = 0; continue; }
            int e = Math.Clamp(Math.ILogB((double)amax), -127, 127);
            scales[j] = (byte)(e + 127);
            double mul = Math.ScaleB(1.0, 6 - e);   // exact in double for every e in range: v·mul is exact, so rounding it is the only rounding
            for (int i = 0; i < len; i++)
                q[i] = (sbyte)Math.Clamp(Math.Round(a[k0 + i] * mul, MidpointRounding.ToEven), -127, 127);
        }
    }

    /// <summary>
    /// Same codes and scale bytes as <see cref="QuantizeRow"/>, bit for bit, with AVX-512 for whole blocks of a multiple of
    /// 16 elements whose amax is a normal float with e ≥ −121 (then v · 2^(6−e) is an exact fp32 scaling and cvtps2dq
    /// rounds half to even like the scalar path); every other block (partial, NaN/Inf, zero, tiny) goes to the scalar code.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRowFast(float* a, int k, int blockSize, sbyte* codes, byte* scales)
    {
        if (!CpuFeatures.Has(IsaFeatures.Avx512) || blockSize % 16 != 0)
        {
            QuantizeRow(a, k, blockSize, codes, scales);
            return;
        }
        int nb = (k + blockSize - 1) / blockSize;
        for (int j = 0; j < nb; j++)
        {
            int k0 = j * blockSize;
            if (k0 + blockSize > k)
            {
                QuantizeRow(a + k0, k - k0, blockSize, codes + k0, scales + j);
                continue;
            }
            Vector512<uint> mx = Vector512<uint>.Zero;
            for (int i = 0; i < blockSize; i += 16)
                mx = Vector512.Max(mx, Vector512.Load((uint*)(a + k0 + i)) & Vector512.Create(0x7FFFFFFFu));
            Vector256<uint> h = Vector256.Max(mx.GetLower(), mx.GetUpper());
            Vector128<uint> q4 = Vector128.Max(h.GetLower(), h.GetUpper());
            uint amaxBits = Math.Max(Math.Max(q4[0], q4[1]), Math.Max(q4[2], q4[3]));
            int e = (int)(amaxBits >> 23) - 127;
            if (amaxBits >= 0x7F800000u || amaxBits < 0x00800000u || e < -121)
            {
                QuantizeRow(a + k0, blockSize, blockSize, codes + k0, scales + j);
                continue;
            }
            scales[j] = (byte)(e + 127);
            var mul = Vector512.Create(BitConverter.Int32BitsToSingle((6 - e + 127) << 23));
            for (int i = 0; i < blockSize; i += 16)
            {
                Vector512<int> r = Avx512F.ConvertToVector512Int32(Vector512.Load(a + k0 + i) * mul);
                r = Vector512.Min(Vector512.Max(r, Vector512.Create(-127)), Vector512.Create(127));
                Avx512F.ConvertToVector128SByte(r).Store(codes + k0 + i);
            }
        }
    }

    /// <summary>
    /// Reorders each 32-code chunk to even elements then odd elements: the order in which a 4-bit weight decoder
    /// yields values without interleaving nibbles (see <see cref="IBlock32Decoder.SplitOrder"/>).
    /// </summary>
    public static void SplitEvenOdd(sbyte* codes, int count)
    {
        sbyte* t = stackalloc sbyte[32];
        for (int c = 0; c + 32 <= count; c += 32)
        {
            for (int i = 0; i < 32; i++) t[i] = codes[c + i];
            for (int i = 0; i < 16; i++)
            {
                codes[c + i] = t[2 * i];
                codes[c + 16 + i] = t[2 * i + 1];
            }
        }
    }

    /// <summary>
    /// Writes the values the MXINT8 quantization of a row stands for (code · 2^(e−6), NaN for a NaN block): exact in
    /// fp32, so a weight-only GEMM over them computes the MX×MX product up to fp32 accumulation. Used for weight
    /// formats without an integer form (FP8, MXFP6 E3M2, MX9/MX6/MX4) and block sizes below 32.
    /// </summary>
    public static void QuantizeDequantizeRow(float* a, int k, int blockSize, float* dst)
    {
        sbyte* q = stackalloc sbyte[64];
        byte scale;
        for (int k0 = 0; k0 < k; k0 += blockSize)
        {
            int len = Math.Min(blockSize, k - k0);
            QuantizeRow(a + k0, len, blockSize, q, &scale);
            float x = (float)(FormatTables.E8M0Double(scale) / 64);
            for (int i = 0; i < len; i++) dst[k0 + i] = q[i] * x;
        }
    }
}
