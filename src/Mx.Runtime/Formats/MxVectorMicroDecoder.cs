using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Formats;

/// <summary>
/// Vector256 unpack+dequantize of whole MX9/MX6/MX4 blocks. A code's value is computed, not looked up: sign + magnitude
/// m gives ±m · 2^−M (· 2^−1 with the pair's micro-exponent), exact in float32 and equal to the decode table's entry
/// halved as the reference does; the one rounding is the product with the scale, as in <see cref="MxBlockReference.Dequantize"/>.
/// </summary>
internal static unsafe class MxVectorMicroDecoder
{
    public static int DequantizeFullBlocks(MxFormat format, ReadOnlySpan<byte> elements, ReadOnlySpan<byte> scales, ReadOnlySpan<byte> micro,
        int blockSize, Span<float> row)
    {
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        int bits = format.ElementBits, blockBytes = blockSize * bits / 8, microBytes = blockSize / 16, vectors = blockSize / 8;
        var unpacker = new MxVectorBits(bits);
        var magnitudeMask = Vector256.Create((1 << (bits - 1)) - 1);
        var signMask = Vector256.Create(1 << (bits - 1));
        int mantissa = format.MantissaBits - 1;
        var step = Vector256.Create(MathF.ScaleB(1f, -mantissa));
        var halfStep = Vector256.Create(MathF.ScaleB(1f, -mantissa - 1));
        // Lane i of a group of eight belongs to pair i / 2 of the group's four.
        var pairBit = Vector256.Create(1, 1, 2, 2, 4, 4, 8, 8);
        byte* scratch = stackalloc byte[64 + 8];
        fixed (byte* src0 = elements)
        fixed (float* dst0 = row)
        {
            for (int b = 0; b < full; b++)
            {
                byte* src = src0 + b * blockBytes;
                // Unpacking reads 8 bytes per group of eight codes: copy a block near the end of the buffer first.
                if ((b + 1) * blockBytes + 8 > elements.Length)
                {
                    new Span<byte>(scratch, 64 + 8).Clear();
                    Buffer.MemoryCopy(src, scratch, blockBytes, blockBytes);
                    src = scratch;
                }
                float* dst = dst0 + b * blockSize;
                var scale = Vector256.Create(E8M0.ToFloat(scales[b]));
                ulong m = 0;
                for (int i = 0; i < microBytes; i++) m |= (ulong)micro[b * microBytes + i] << (8 * i);
                for (int v = 0; v < vectors; v++)
                {
                    var codes = unpacker.UnpackEight(src + v * bits).AsInt32();
                    var magnitude = Avx.ConvertToVector256Single(codes & magnitudeMask);
                    var sign = Vector256.ShiftLeft(codes & signMask, 32 - bits);
                    var low = Avx2.CompareEqual(Vector256.Create((int)(m >> (4 * v)) & 0xF) & pairBit, pairBit);
                    var value = (magnitude * Avx.BlendVariable(step, halfStep, low.AsSingle())).AsInt32() | sign;
                    (value.AsSingle() * scale).Store(dst + 8 * v);
                }
            }
        }
        return full;
    }
}
