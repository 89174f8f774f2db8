using System.Runtime.Intrinsics;

namespace Mx.Runtime.Formats;

/// <summary>
/// Vector256 quantize+pack of whole blocks for the cases the byte-narrowing fast path of <see cref="MxVectorCodec"/>
/// does not take: MX9/MX6/MX4 (micro-exponents), the MSE scale mode of every format, and the 6-bit floats. Codes stay
/// in 32-bit lanes and are bit-packed in registers (<see cref="MxVectorBits"/>).
/// </summary>
internal static unsafe class MxVectorQuantizer
{
    /// <summary>Quantizes the row's whole blocks; returns how many it wrote (the partial last block is the caller's).</summary>
    public static int QuantizeFullBlocks(MxFormat format, ReadOnlySpan<float> row, int blockSize, Span<byte> elements, Span<byte> scales,
        Span<byte> micro, MxScaleMode scaleMode, MxRounding rounding)
    {
        int full = row.Length / blockSize;
        if (full == 0) return 0;
        var encoder = new MxVectorBlockEncoder(format, rounding, blockSize);
        var packer = new MxVectorBits(format.ElementBits);
        int vectors = blockSize / 8, blockBytes = blockSize * format.ElementBits / 8;
        int microBytes = format.Kind == MxElementKind.SharedMicroExponent ? blockSize / 16 : 0;
        // Packing writes up to 8 bytes past a block's data; blocks that close to the row's last byte go through scratch.
        int rowBytes = (row.Length + blockSize - 1) / blockSize * blockBytes;
        var codes = stackalloc Vector256<uint>[8];
        var microLanes = stackalloc Vector256<uint>[8];
        double* squares = stackalloc double[3 * 64];
        byte* scratch = stackalloc byte[64 + 8];
        fixed (float* table = MxElementDecoding.Table(format))
        fixed (float* src0 = row)
        fixed (byte* dst0 = elements)
        {
            for (int b = 0; b < full; b++)
            {
                float* src = src0 + b * blockSize;
                byte* dst = dst0 + b * blockBytes;
                uint amax = encoder.AbsMax(src);
                ulong m = 0;
                if (amax >= 0x7F800000)
                {
                    scales[b] = E8M0.NaN;
                    new Span<byte>(dst, blockBytes).Clear();
                }
                else
                {
                    int e = encoder.ChooseExponent(src, amax, scaleMode, table, codes, microLanes, squares);
                    scales[b] = E8M0.FromExponent(e);
                    m = encoder.EncodeAt(src, e, codes, null);
                    bool room = (b + 1) * blockBytes + 8 <= rowBytes;
                    packer.Pack(codes, vectors, room ? dst : scratch);
                    if (!room) Buffer.MemoryCopy(scratch, dst, blockBytes, blockBytes);
                }
                for (int i = 0; i < microBytes; i++) micro[b * microBytes + i] = (byte)(m >> (8 * i));
            }
        }
        return full;
    }
}
