using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels.Sparse;

/// <summary>
/// Per-call activation preparation for the K-major kernels, and the list of K-blocks that are active (not all zero in
/// some row of A). MX×MX: rows quantized to MXINT8 (the same codes as <see cref="ActivationQuantizer"/>), 32 codes per
/// block in the weight's chunk order, the block's offset term <c>Offset·Σa</c> as an int, and its scale
/// <c>E8M0 · 2^(−6−s)</c>. A block is inactive in a row when its codes are all zero (exact: it contributes exactly 0)
/// or, with a threshold t &gt; 0, when its largest |a| ≤ t (then it is treated as zero: an approximation the caller
/// asked for); a block with NaN/Inf stays active.
/// </summary>
internal static unsafe class KMajorActivations
{
    // Within each 8 elements of a block: the 4 even ones, then the 4 odd ones (the low and high nibbles of 4 weight
    // bytes), for two blocks per 64 bytes.
    private static readonly Vector512<byte> NibbleOrder = Build();

    private static Vector512<byte> Build()
    {
        var b = new byte[64];
        for (int o = 0; o < 64; o++)
        {
            int block = o / 32, c = o % 32 / 8, p = o % 8;
            b[o] = (byte)(block * 32 + 8 * c + (p < 4 ? 2 * p : 2 * (p - 4) + 1));
        }
        return Vector512.Create(b);
    }

    /// <summary>
    /// Quantizes row <paramref name="a"/> (K floats) into <paramref name="codes"/> (nb·32, plus 32 bytes of slack),
    /// <paramref name="corr"/> and <paramref name="scale"/> (nb each), and marks its active blocks in <paramref name="active"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareMxMx(float* a, int k, int nb, float threshold, int offset, float unit, bool nibbleOrder,
        sbyte* codes, int* corr, float* scale, byte* scaleBytes, bool* active)
    {
        ActivationQuantizer.QuantizeRowFast(a, k, 32, codes, scaleBytes);
        new Span<sbyte>(codes + nb * 32, 32).Clear();
        for (int j = 0; j < nb; j++)
        {
            sbyte* q = codes + j * 32;
            Vector256<byte> v = Vector256.Load((byte*)q);
            bool nonzero = v != Vector256<byte>.Zero, nan = scaleBytes[j] == 0xFF;
            if (threshold > 0 && !nan && nonzero && BlockAmax(a, k, j) <= threshold)
            {
                Vector256<byte>.Zero.Store((byte*)q);
                nonzero = false;
            }
            if (nonzero || nan) active[j] = true;
            if (!nonzero)
            {
                corr[j] = 0;
                scale[j] = nan ? float.NaN : 0f;
                continue;
            }
            // Σ of 32 signed codes: psadbw over the codes biased to unsigned, minus the bias.
            Vector256<ulong> sad = Avx2.SumAbsoluteDifferences(v ^ Vector256.Create((byte)0x80), Vector256<byte>.Zero).AsUInt64();
            corr[j] = offset * ((int)(sad[0] + sad[1] + sad[2] + sad[3]) - 128 * 32);
            scale[j] = FormatTables.E8M0[scaleBytes[j]] * unit;
        }
        if (nibbleOrder)
            for (int j = 0; j < nb; j += 2)
                Avx512Vbmi.PermuteVar64x8(Vector512.Load((byte*)codes + j * 32), NibbleOrder).Store((byte*)codes + j * 32);
    }

    /// <summary>
    /// Weight-only: copies row <paramref name="a"/> into <paramref name="dst"/> (nb·32 floats, zero-padded), zeroing the
    /// blocks at or below the threshold, and marks its active blocks.
    /// </summary>
    public static void PrepareWeightOnly(float* a, int k, int nb, float threshold, float* dst, bool* active)
    {
        Buffer.MemoryCopy(a, dst, (long)nb * 32 * 4, (long)k * 4);
        new Span<float>(dst + k, nb * 32 - k).Clear();
        for (int j = 0; j < nb; j++)
        {
            float* b = dst + j * 32;
            Vector512<uint> x0 = Vector512.Load((uint*)b) & Vector512.Create(0x7FFFFFFFu), x1 = Vector512.Load((uint*)b + 16) & Vector512.Create(0x7FFFFFFFu);
            uint amax = MaxLane(Vector512.Max(x0, x1));
            bool nan = amax >= 0x7F800000u;   // NaN or Inf: keep (bit patterns compare as unsigned integers)
            bool live = nan || (threshold > 0 ? BitConverter.UInt32BitsToSingle(amax) > threshold : amax != 0);
            if (!live) new Span<float>(b, 32).Clear();
            else active[j] = true;
        }
    }

    private static uint MaxLane(Vector512<uint> v)
    {
        Vector256<uint> h = Vector256.Max(v.GetLower(), v.GetUpper());
        Vector128<uint> q = Vector128.Max(h.GetLower(), h.GetUpper());
        return Math.Max(Math.Max(q[0], q[1]), Math.Max(q[2], q[3]));
    }

    private static float BlockAmax(float* a, int k, int j)
    {
        float m = 0;
        for (int i = j * 32; i < Math.Min(k, j * 32 + 32); i++) m = Math.Max(m, Math.Abs(a[i]));
        return m;
    }
}
