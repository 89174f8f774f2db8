using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Formats;

/// <summary>
/// In-register bit packing for the Vector256 codecs: eight element codes, one per 32-bit lane, ↔ the 8 · bits / 8 = bits
/// bytes they occupy in the row's LSB-first bit stream (docs/packed-layout.md); the same bytes as
/// <see cref="MxBitPacking"/>. Works for any width 1–8 (the codecs use it for 3, 5 and 6 bits, and 8 for MX9).
/// Both directions touch 8 bytes per group of eight codes, so callers keep 8 − bits bytes of room after the data.
/// </summary>
internal readonly unsafe struct MxVectorBits
{
    private readonly Vector256<uint> _packShifts, _unpackShifts, _mask;
    private readonly Vector256<byte> _unpackBytes;
    public readonly int Bits;

    public MxVectorBits(int bits)
    {
        Bits = bits;
        // Pack: lane i moves to bit (i mod 4) · bits of its 128-bit half; four codes fill at most 32 bits.
        _packShifts = Vector256.Create(0u, (uint)bits, 2u * (uint)bits, 3u * (uint)bits, 0u, (uint)bits, 2u * (uint)bits, 3u * (uint)bits);
        // Unpack: lane i takes the two bytes holding bit i · bits (byte 8 of the 16-byte source is zero), then shifts.
        var bytes = new byte[32];
        var shifts = new uint[8];
        for (int i = 0; i < 8; i++)
        {
            int first = i * bits / 8;
            bytes[4 * i] = (byte)first;
            bytes[4 * i + 1] = (byte)(first + 1);
            bytes[4 * i + 2] = bytes[4 * i + 3] = 0x80;
            shifts[i] = (uint)(i * bits % 8);
        }
        _unpackBytes = Vector256.Create(bytes);
        _unpackShifts = Vector256.Create(shifts);
        _mask = Vector256.Create((1u << bits) - 1);
    }

    /// <summary>The eight codes' low <see cref="Bits"/> bits, LSB-first, in the low 8 · bits bits of the result.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong PackEight(Vector256<uint> codes)
    {
        var s = Avx2.ShiftLeftLogicalVariable(codes & _mask, _packShifts);
        s |= Avx2.Shuffle(s, 0b_01_00_11_10);
        s |= Avx2.Shuffle(s, 0b_10_11_00_01);
        return s.ToScalar() | ((ulong)s.GetUpper().ToScalar() << (4 * Bits));
    }

    /// <summary>Eight codes starting at <paramref name="src"/> (reads 8 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<uint> UnpackEight(byte* src)
    {
        var b = Vector128.CreateScalar(*(ulong*)src).AsByte();
        var spread = Avx2.Shuffle(Vector256.Create(b, b), _unpackBytes).AsUInt32();
        return Avx2.ShiftRightLogicalVariable(spread, _unpackShifts) & _mask;
    }

    /// <summary>Packs <paramref name="vectors"/> groups of eight codes to <paramref name="dst"/> (writes up to 8 − bits bytes past the data, all zero).</summary>
    public void Pack(Vector256<uint>* codes, int vectors, byte* dst)
    {
        for (int v = 0; v < vectors; v++) *(ulong*)(dst + v * Bits) = PackEight(codes[v]);
    }
}
