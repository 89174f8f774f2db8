using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;

namespace Mx.Runtime.Formats;

/// <summary>
/// The Vector256 (AVX2) codec for whole blocks, every format and scale mode. This file holds the dispatch and the fast
/// path for the 8- and 4-bit formats without micro-exponents at floor and ceil scales; MX9/MX6/MX4, MSE and the 6-bit
/// formats go to <see cref="MxVectorQuantizer"/>, MX9/MX6/MX4 decoding to <see cref="MxVectorMicroDecoder"/>.
/// Quantize: the block's scale exponent e is found on the scalar side from the max of
/// the |x| bit patterns (exactly as the reference), then y = x · 2^−e (exact whenever it matters: a product that
/// rounds is a float32 subnormal, far below half the smallest element step, and encodes as ±0 either way), then the
/// grid rounding of <see cref="MxElementGrid"/> is done on y's bits with per-lane variable shifts. Dequantize: table
/// lookup (in-register permutes for 4-bit codes, gathers otherwise) times the scale, one float32 rounding, as the
/// reference. Partial blocks (the end of a row) and unsupported formats/modes are left to the scalar reference.
/// </summary>
internal static class MxVectorCodec
{
    public static bool IsHardwareAccelerated => CpuFeatures.Has(IsaFeatures.Avx2);

    /// <summary>Whether the Vector256 path serves this format and mode here (every one, on a machine with AVX2).</summary>
    public static bool Supports(MxFormat format, MxScaleMode mode) => IsHardwareAccelerated;

    /// <summary>Quantizes the row's whole blocks; returns how many blocks it wrote (the rest are partial).</summary>
    public static unsafe int QuantizeFullBlocks(MxFormat format, ReadOnlySpan<float> row, int blockSize, Span<byte> elements, Span<byte> scales,
        Span<byte> micro, MxScaleMode scaleMode, MxRounding rounding)
    {
        if (format.Kind == MxElementKind.SharedMicroExponent || scaleMode == MxScaleMode.Mse || format.ElementBits is not (8 or 4))
            return MxVectorQuantizer.QuantizeFullBlocks(format, row, blockSize, elements, scales, micro, scaleMode, rounding);
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        ref readonly var g = ref MxElementGrid.For(format);
        int bits = g.Bits, blockBytes = blockSize * bits / 8, vectors = blockSize / 8;
        var p = new MxVectorGrid(format, rounding);
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
                var mul = Vector256.Create(MxVectorGrid.PowerOfTwo(-e));
                if (vectors == 1)
                {
                    var c = p.Encode(Avx.LoadVector256(src) * mul);
                    var bytes = Vector256.Narrow(Vector256.Narrow(c, Vector256<uint>.Zero), Vector256<ushort>.Zero);
                    *(ulong*)codes = bytes.AsUInt64().GetElement(0);
                }
                else
                {
                    for (int v = 0; v < vectors; v += 4)
                    {
                        var c0 = p.Encode(Avx.LoadVector256(src + 8 * v) * mul);
                        var c1 = p.Encode(Avx.LoadVector256(src + 8 * v + 8) * mul);
                        Vector256<ushort> lo = Vector256.Narrow(c0, c1), hi = Vector256<ushort>.Zero;
                        if (v + 2 < vectors)
                            hi = Vector256.Narrow(p.Encode(Avx.LoadVector256(src + 8 * v + 16) * mul), p.Encode(Avx.LoadVector256(src + 8 * v + 24) * mul));
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
            default:
                MxBitPacking.Pack(new ReadOnlySpan<byte>(codes, blockSize), new Span<byte>(dst, blockSize * bits / 8), bits);
                break;
        }
    }

    /// <summary>Dequantizes the row's whole blocks; returns how many blocks it wrote.</summary>
    public static unsafe int DequantizeFullBlocks(MxFormat format, ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> micro,
        int blockSize, Span<float> row)
    {
        if (format.Kind == MxElementKind.SharedMicroExponent)
            return MxVectorMicroDecoder.DequantizeFullBlocks(format, elements, scales, micro, blockSize, row);
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        int bits = format.ElementBits, blockBytes = blockSize * bits / 8;
        float[] table = MxElementDecoding.Table(format);
        byte* codes = stackalloc byte[64];
        byte* tail = stackalloc byte[64 + 8];
        var sixBits = new MxVectorBits(6);
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
                        // Unpacking reads 8 bytes per group of eight codes: copy a block near the end of the buffer first.
                        if ((b + 1) * blockBytes + 8 > elements.Length)
                        {
                            new Span<byte>(tail, 64 + 8).Clear();
                            Buffer.MemoryCopy(src, tail, blockBytes, blockBytes);
                            src = tail;
                        }
                        break;
                    default:
                        MxBitPacking.Unpack(new ReadOnlySpan<byte>(src, blockBytes), new Span<byte>(codes, blockSize), bits);
                        break;
                }
                for (int v = 0; v < blockSize; v += 8)
                {
                    var idx = bits == 6 ? sixBits.UnpackEight(src + v * 6 / 8).AsInt32() : Avx2.ConvertToVector256Int32(c + v);
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
