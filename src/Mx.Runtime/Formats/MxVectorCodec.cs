using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Formats;

/// <summary>
/// The Vector256 (AVX2) codec for whole blocks of the element formats with a plain per-element grid (every format but
/// MX9/6/4), floor and ceil scales. Quantize: the block's scale exponent e is found on the scalar side from the max of
/// the |x| bit patterns (exactly as the reference), then y = x · 2^−e (exact whenever it matters: a product that
/// rounds is a float32 subnormal, far below half the smallest element step, and encodes as ±0 either way), then the
/// grid rounding of <see cref="MxElementGrid"/> is done on y's bits with per-lane variable shifts. Dequantize: table
/// lookup (in-register permutes for 4-bit codes, gathers otherwise) times the scale, one float32 rounding, as the
/// reference. Partial blocks (the end of a row) and unsupported formats/modes are left to the scalar reference.
/// </summary>
internal static class MxVectorCodec
{
    public static bool IsHardwareAccelerated => Avx2.IsSupported;

    public static bool Supports(MxFormat format, MxScaleMode mode) =>
        Avx2.IsSupported && format.Kind != MxElementKind.SharedMicroExponent && mode != MxScaleMode.Mse;

    /// <summary>Quantizes the row's whole blocks; returns how many blocks it wrote (the rest are partial).</summary>
    public static unsafe int QuantizeFullBlocks(MxFormat format, ReadOnlySpan<float> row, int blockSize, Span<byte> elements, Span<byte> scales,
        MxScaleMode scaleMode, MxRounding rounding)
    {
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        ref readonly var g = ref MxElementGrid.For(format);
        int bits = g.Bits, blockBytes = blockSize * bits / 8, vectors = blockSize / 8;
        var p = new GridParams(g, rounding);
        float maxNormal = (float)format.MaxNormal;
        byte* codes = stackalloc byte[64];
        fixed (float* src0 = row)
        fixed (byte* dst0 = elements)
        {
            for (int b = 0; b < full; b++)
            {
                float* src = src0 + b * blockSize;
                byte* dst = dst0 + b * blockBytes;
                var absMask = Vector256.Create(0x7FFFFFFF);
                var amaxV = Vector256<int>.Zero;
                for (int v = 0; v < vectors; v++)
                    amaxV = Avx2.Max(amaxV, Avx.LoadVector256((int*)src + 8 * v) & absMask);
                uint amax = (uint)HorizontalMax(amaxV);
                if (amax >= 0x7F800000)
                {
                    scales[b] = E8M0.NaN;
                    new Span<byte>(dst, blockBytes).Clear();
                    continue;
                }
                int e = amax == 0 ? E8M0.MinExponent : Math.Clamp(MxBlockReference.FloorLog2(amax) - format.Emax, E8M0.MinExponent, E8M0.MaxExponent);
                if (scaleMode == MxScaleMode.Ceil && amax != 0 && BitConverter.UInt32BitsToSingle(amax) > format.MaxNormal * Math.ScaleB(1.0, e))
                    e = Math.Min(e + 1, E8M0.MaxExponent);
                scales[b] = E8M0.FromExponent(e);
                var mul = Vector256.Create(-e == -127 ? BitConverter.Int32BitsToSingle(0x00400000) : BitConverter.Int32BitsToSingle((127 - e) << 23));
                if (vectors == 1)
                {
                    var c = EncodeVector(Avx.LoadVector256(src) * mul, p);
                    var bytes = Vector256.Narrow(Vector256.Narrow(c, Vector256<uint>.Zero), Vector256<ushort>.Zero);
                    *(ulong*)codes = bytes.AsUInt64().GetElement(0);
                }
                else
                {
                    for (int v = 0; v < vectors; v += 4)
                    {
                        var c0 = EncodeVector(Avx.LoadVector256(src + 8 * v) * mul, p);
                        var c1 = EncodeVector(Avx.LoadVector256(src + 8 * v + 8) * mul, p);
                        Vector256<ushort> lo = Vector256.Narrow(c0, c1), hi = Vector256<ushort>.Zero;
                        if (v + 2 < vectors)
                            hi = Vector256.Narrow(EncodeVector(Avx.LoadVector256(src + 8 * v + 16) * mul, p), EncodeVector(Avx.LoadVector256(src + 8 * v + 24) * mul, p));
                        var bytes = Vector256.Narrow(lo, hi);
                        if (v + 2 < vectors) bytes.Store(codes + 8 * v);
                        else bytes.GetLower().Store(codes + 8 * v);
                    }
                }
                Pack(codes, dst, blockSize, bits);
            }
        }
        return full;
    }

    private readonly struct GridParams
    {
        public readonly Vector256<uint> EminBiased, DropBase, MaxMag, Away, SignShift, Mask;
        public readonly int M;
        public readonly bool TwosComplement;

        public GridParams(in MxElementGrid g, MxRounding rounding)
        {
            M = g.M;
            EminBiased = Vector256.Create((uint)(g.Emin + 127));
            DropBase = Vector256.Create((uint)(23 - g.M));
            MaxMag = Vector256.Create((uint)g.MaxMagnitude);
            Away = Vector256.Create(rounding == MxRounding.NearestAway ? uint.MaxValue : 0u);
            SignShift = Vector256.Create((uint)(g.Bits - 1));
            Mask = Vector256.Create((1u << g.Bits) - 1);
            TwosComplement = g.TwosComplement;
        }
    }

    /// <summary>Element codes (one per uint lane) of eight already-scaled values y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> EncodeVector(Vector256<float> y, in GridParams p)
    {
        var bits = y.AsUInt32();
        var sign = Vector256.ShiftRightLogical(bits, 31);
        var a = bits & Vector256.Create(0x7FFFFFFFu);
        var expY = Vector256.ShiftRightLogical(a, 23);
        var man = (a & Vector256.Create(0x7FFFFFu)) | (Vector256.GreaterThan(expY, Vector256<uint>.Zero) & Vector256.Create(0x800000u));
        var expEff = Avx2.Max(expY, Vector256<uint>.One);
        // drop = 23 − M + max(0, eminBiased − expEff), at most 31
        var deficit = Avx2.Max(p.EminBiased, expEff) - expEff;
        var drop = Avx2.Min(p.DropBase + deficit, Vector256.Create(31u));
        var half = Avx2.ShiftLeftLogicalVariable(Vector256<uint>.One, drop - Vector256<uint>.One);
        var lsb = Avx2.ShiftRightLogicalVariable(man, drop) & Vector256<uint>.One;
        // nearest-even: half − 1 + lsb; nearest-away: half
        var bias = Vector256.ConditionalSelect(p.Away, half, half - Vector256<uint>.One + lsb);
        var n = Avx2.ShiftRightLogicalVariable(man + bias, drop);
        var over = Avx2.Max(expY, p.EminBiased) - p.EminBiased;
        var code = Avx2.Min(Vector256.ShiftLeft(over, p.M) + n, p.MaxMag);
        if (p.TwosComplement)
        {
            var neg = Vector256.Equals(sign, Vector256<uint>.One);
            return Vector256.ConditionalSelect(neg, (Vector256<uint>.Zero - code) & p.Mask, code);
        }
        return code | Avx2.ShiftLeftLogicalVariable(sign, p.SignShift);
    }

    private static int HorizontalMax(Vector256<int> v)
    {
        var m = Sse41.Max(v.GetLower(), v.GetUpper());
        m = Sse41.Max(m, Sse2.Shuffle(m, 0b_01_00_11_10));
        m = Sse41.Max(m, Sse2.Shuffle(m, 0b_10_11_00_01));
        return m.ToScalar();
    }

    private static unsafe void Pack(byte* codes, byte* dst, int blockSize, int bits)
    {
        switch (bits)
        {
            case 8:
                Buffer.MemoryCopy(codes, dst, blockSize, blockSize);
                break;
            case 4:
                int i = 0;
                for (; i + 32 <= blockSize; i += 32)
                {
                    var u = Avx.LoadVector256(codes + i).AsUInt16();
                    var packed = (u & Vector256.Create((ushort)0xF)) | (Vector256.ShiftRightLogical(u, 4) & Vector256.Create((ushort)0xF0));
                    Vector256.Narrow(packed, Vector256<ushort>.Zero).GetLower().Store(dst + i / 2);
                }
                for (; i < blockSize; i += 2) dst[i / 2] = (byte)(codes[i] | (codes[i + 1] << 4));
                break;
            case 6:
                for (int q = 0; q < blockSize / 4; q++)
                {
                    uint w = codes[4 * q] | ((uint)codes[4 * q + 1] << 6) | ((uint)codes[4 * q + 2] << 12) | ((uint)codes[4 * q + 3] << 18);
                    dst[3 * q] = (byte)w;
                    dst[3 * q + 1] = (byte)(w >> 8);
                    dst[3 * q + 2] = (byte)(w >> 16);
                }
                break;
            default:
                MxBitPacking.Pack(new ReadOnlySpan<byte>(codes, blockSize), new Span<byte>(dst, blockSize * bits / 8), bits);
                break;
        }
    }

    /// <summary>Dequantizes the row's whole blocks; returns how many blocks it wrote.</summary>
    public static unsafe int DequantizeFullBlocks(MxFormat format, ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, int blockSize, Span<float> row)
    {
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        int bits = format.ElementBits, blockBytes = blockSize * bits / 8;
        float[] table = MxElementDecoding.Table(format);
        byte* codes = stackalloc byte[64];
        fixed (float* t = table)
        fixed (byte* src0 = elements)
        fixed (float* dst0 = row)
        {
            Vector256<float> tLo = default, tHi = default;
            if (bits == 4) { tLo = Avx.LoadVector256(t); tHi = Avx.LoadVector256(t + 8); }
            for (int b = 0; b < full; b++)
            {
                byte* src = src0 + b * blockBytes;
                float* dst = dst0 + b * blockSize;
                var scale = Vector256.Create(E8M0.ToFloat(scales[b]));
                byte* c = codes;
                switch (bits)
                {
                    case 8: c = src; break;
                    case 4:
                        for (int i = 0; i < blockSize / 2; i += 8)
                        {
                            var packed = Vector128.CreateScalarUnsafe(*(ulong*)(src + i)).AsByte();
                            var lo = packed & Vector128.Create((byte)0xF);
                            var hi = Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0xF);
                            Sse2.UnpackLow(lo, hi).Store(codes + 2 * i);
                        }
                        break;
                    case 6:
                        for (int q = 0; q < blockSize / 4; q++)
                        {
                            uint w = src[3 * q] | ((uint)src[3 * q + 1] << 8) | ((uint)src[3 * q + 2] << 16);
                            codes[4 * q] = (byte)(w & 63);
                            codes[4 * q + 1] = (byte)((w >> 6) & 63);
                            codes[4 * q + 2] = (byte)((w >> 12) & 63);
                            codes[4 * q + 3] = (byte)(w >> 18);
                        }
                        break;
                    default:
                        MxBitPacking.Unpack(new ReadOnlySpan<byte>(src, blockBytes), new Span<byte>(codes, blockSize), bits);
                        break;
                }
                for (int v = 0; v < blockSize; v += 8)
                {
                    var idx = Avx2.ConvertToVector256Int32(c + v);
                    Vector256<float> values;
                    if (bits == 4)
                    {
                        var high = Vector256.GreaterThan(idx, Vector256.Create(7)).AsSingle();
                        values = Avx.BlendVariable(Avx2.PermuteVar8x32(tLo, idx), Avx2.PermuteVar8x32(tHi, idx), high);
                    }
                    else values = Avx2.GatherVector256(t, idx, 4);
                    (values * scale).Store(dst + v);
                }
            }
        }
        return full;
    }
}
