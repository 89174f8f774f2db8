namespace Mx.Runtime.Formats;

/// <summary>
/// The plain scalar reference for one block: choose the E8M0 scale (and MX9/6/4 micro-exponents), encode the elements,
/// and decode them back. One element code per byte here; bit packing is <see cref="MxBitPacking"/>'s job.
/// </summary>
public static class MxBlockReference
{
    /// <summary>floor(log2 |x|) of a finite non-zero float32 given by its absolute bits (subnormals included).</summary>
    public static int FloorLog2(uint absBits)
    {
        int field = (int)(absBits >> 23);
        return field != 0 ? field - 127 : -149 + (31 - System.Numerics.BitOperations.LeadingZeroCount(absBits));
    }

    /// <summary>
    /// Quantizes one block. <paramref name="values"/> holds the block's data (shorter than the block when the row ends:
    /// the missing elements are padding, encoded as code 0). Writes one code per element to <paramref name="codes"/>
    /// (its full length, padding included) and returns the scale byte.
    /// A block holding NaN or ±Inf: scale 0xFF, every code 0, micro 0. A block whose values are all ±0: scale 0x00.
    /// MX9/6/4: <paramref name="micro"/> gets bit p set when pair p (elements 2p, 2p + 1) uses the sub-scale 2^−1, which
    /// happens when floor(log2) of the pair's largest magnitude is below the block exponent and the pair does not
    /// quantize to two zero codes (a zero pair always has micro-exponent 0).
    /// </summary>
    public static byte Quantize(MxFormat format, ReadOnlySpan<float> values, Span<byte> codes, MxScaleMode scaleMode,
        MxRounding rounding, out ulong micro)
    {
        codes.Clear();
        micro = 0;
        uint amax = 0;
        foreach (float v in values)
        {
            uint a = BitConverter.SingleToUInt32Bits(v) & 0x7FFFFFFF;
            if (a >= 0x7F800000) return E8M0.NaN;
            amax = Math.Max(amax, a);
        }
        int floorE = amax == 0 ? E8M0.MinExponent : Clamp(FloorLog2(amax) - format.Emax);
        int e = floorE;
        if (scaleMode == MxScaleMode.Ceil && amax != 0 && BitConverter.UInt32BitsToSingle(amax) > format.MaxNormal * Math.ScaleB(1.0, floorE))
            e = Clamp(floorE + 1);
        else if (scaleMode == MxScaleMode.Mse && amax != 0)
        {
            double best = double.PositiveInfinity;
            Span<byte> trial = stackalloc byte[codes.Length];
            foreach (int c in (ReadOnlySpan<int>)[floorE, floorE + 1, floorE - 1])
            {
                int ce = Clamp(c);
                ulong tm = EncodeAt(format, values, trial, ce, rounding);
                double err = SquaredError(format, values, trial, ce, tm);
                if (err < best) { best = err; e = ce; }
            }
        }
        micro = EncodeAt(format, values, codes, e, rounding);
        return E8M0.FromExponent(e);
    }

    private static int Clamp(int e) => Math.Clamp(e, E8M0.MinExponent, E8M0.MaxExponent);

    private static ulong EncodeAt(MxFormat format, ReadOnlySpan<float> values, Span<byte> codes, int e, MxRounding rounding)
    {
        ulong micro = 0;
        if (format.Kind == MxElementKind.SharedMicroExponent)
        {
            for (int p = 0; 2 * p < values.Length; p++)
            {
                uint a0 = BitConverter.SingleToUInt32Bits(values[2 * p]) & 0x7FFFFFFF;
                uint a1 = 2 * p + 1 < values.Length ? BitConverter.SingleToUInt32Bits(values[2 * p + 1]) & 0x7FFFFFFF : 0;
                uint pa = Math.Max(a0, a1);
                if (pa != 0 && FloorLog2(pa) < e) micro |= 1UL << p;
            }
        }
        for (int i = 0; i < values.Length; i++)
        {
            int d = (int)((micro >> (i / 2)) & 1);
            codes[i] = (byte)MxElementEncoding.Encode(format, values[i], e - d, rounding);
        }
        for (int i = values.Length; i < codes.Length; i++) codes[i] = 0;
        // Canonical form: a pair whose codes are both 0 keeps micro-exponent 0.
        for (int p = 0; 2 * p < values.Length; p++)
            if (codes[2 * p] == 0 && (2 * p + 1 >= codes.Length || codes[2 * p + 1] == 0)) micro &= ~(1UL << p);
        return micro;
    }

    private static double SquaredError(MxFormat format, ReadOnlySpan<float> values, ReadOnlySpan<byte> codes, int e, ulong micro)
    {
        double s = 0;
        for (int i = 0; i < values.Length; i++)
        {
            double q = MxElementDecoding.Decode(format, codes[i]) * Math.ScaleB(1.0, e - (int)((micro >> (i / 2)) & 1));
            double d = q - values[i];
            s += d * d;
        }
        return s;
    }

    /// <summary>
    /// Decodes one block: value i = float32(decode(code i) · 2^−micro(i/2) · 2^(scale − 127)), the product rounded
    /// once to float32 (it can underflow to a subnormal or zero, or overflow to ±Inf for huge scales).
    /// Scale 0xFF gives NaN for every element.
    /// </summary>
    public static void Dequantize(MxFormat format, ReadOnlySpan<byte> codes, byte scale, ulong micro, Span<float> values)
    {
        float x = E8M0.ToFloat(scale);
        float[] table = MxElementDecoding.Table(format);
        for (int i = 0; i < values.Length; i++)
        {
            float v = table[codes[i]];
            if (((micro >> (i / 2)) & 1) != 0) v *= 0.5f;
            values[i] = v * x;
        }
    }
}
