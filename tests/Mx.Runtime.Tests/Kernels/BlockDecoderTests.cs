using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>
/// Every SIMD block decoder against the code → value table, over every code of its format (NaN and Inf codes
/// included, which the GEMM tests' packer never produces).
/// </summary>
public unsafe class BlockDecoderTests
{
    private static IEnumerable<TestCaseData> Decoders()
    {
        yield return new TestCaseData("mxfp4_e2m1", nameof(Nibble4Decoder));
        yield return new TestCaseData("mxint4", nameof(Nibble4Decoder));
        yield return new TestCaseData("mxint8", nameof(Int8Decoder));
        yield return new TestCaseData("mxfp6_e2m3", nameof(Six6IntDecoder));
        yield return new TestCaseData("mxfp6_e3m2", nameof(Six6GatherDecoder));
        yield return new TestCaseData("mxfp6_e3m2", nameof(E3M2Decoder));
        yield return new TestCaseData("mxfp8_e4m3", nameof(E4M3Decoder));
        yield return new TestCaseData("mxfp8_e5m2", nameof(E5M2Decoder));
        yield return new TestCaseData("mxfp8_e4m3", nameof(Byte8GatherDecoder));
        yield return new TestCaseData("mxfp8_e5m2", nameof(Byte8GatherDecoder));
    }

    [TestCaseSource(nameof(Decoders))]
    public void FloatDecodeMatchesTableForEveryCode(string formatName, string decoder)
    {
        Assume.That(Avx2.IsSupported && Fma.IsSupported, "AVX2/FMA paths only");
        MxFormat f = MxFormats.Parse(formatName);
        var tables = FormatTables.For(f);
        var luts = new DecodeLuts(tables);
        int[] codes = AllCodesInChunksOf32(f.ElementBits, seed: 1);
        byte[] packed = Pack(codes, f.ElementBits);
        float[] table = MxElementDecoding.Table(f);
        bool integer = decoder is nameof(Nibble4Decoder) or nameof(Int8Decoder) or nameof(Six6IntDecoder);
        float factor = integer ? MathF.ScaleB(1f, tables.IntShift) : 1f;
        int bytes32 = 4 * f.ElementBits;
        var got = new float[32];
        for (int c = 0; c < codes.Length / 32; c++)
        {
            fixed (byte* p = &packed[c * bytes32])
            fixed (float* dst = got)
            {
                DecodeFloat(decoder, p, luts, out var f0, out var f1, out var f2, out var f3);
                f0.Store(dst); f1.Store(dst + 8); f2.Store(dst + 16); f3.Store(dst + 24);
            }
            for (int i = 0; i < 32; i++)
            {
                int code = codes[c * 32 + i];
                float want = table[code] * factor;
                // Integer decoders turn −0 into +0 (products are unchanged); float decoders must match bit for bit.
                bool same = integer ? got[i] == want : BitConverter.SingleToInt32Bits(got[i]) == BitConverter.SingleToInt32Bits(want);
                Assert.That(same || (float.IsNaN(got[i]) && float.IsNaN(want)),
                    $"{decoder} code 0x{code:X2}: got {got[i]}, want {want}");
            }
        }
    }

    private static IEnumerable<TestCaseData> IntegerDecoders() =>
        Decoders().Where(d => (string)d.Arguments[1]! is nameof(Nibble4Decoder) or nameof(Int8Decoder) or nameof(Six6IntDecoder));

    [TestCaseSource(nameof(IntegerDecoders))]
    public void Int8DecodesMatchIntegerTable(string formatName, string decoder)
    {
        Assume.That(Avx2.IsSupported, "AVX2 paths only");
        MxFormat f = MxFormats.Parse(formatName);
        var tables = FormatTables.For(f);
        var luts = new DecodeLuts(tables);
        int[] codes = AllCodesInChunksOf32(f.ElementBits, seed: 2);
        byte[] packed = Pack(codes, f.ElementBits);
        int bytes32 = 4 * f.ElementBits;
        for (int c = 0; c < codes.Length / 32; c++)
            fixed (byte* p = &packed[c * bytes32])
            {
                var (plain, dot, split) = DecodeInt8(decoder, p, luts);
                for (int i = 0; i < 32; i++)
                {
                    sbyte want = tables.Ints[codes[c * 32 + i]];
                    Assert.That(plain.GetElement(i), Is.EqualTo(want), $"DecodeInt8 element {i}");
                    // Split order: even elements first, then odd ones.
                    int at = split ? (i % 2 == 0 ? i / 2 : 16 + i / 2) : i;
                    Assert.That(dot.GetElement(at), Is.EqualTo(want), $"DecodeInt8Dot element {i}");
                }
            }
    }

    private static void DecodeFloat(string decoder, byte* p, in DecodeLuts l, out Vector256<float> f0, out Vector256<float> f1, out Vector256<float> f2, out Vector256<float> f3)
    {
        switch (decoder)
        {
            case nameof(Nibble4Decoder): Nibble4Decoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(Int8Decoder): Int8Decoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(Six6IntDecoder): Six6IntDecoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(Six6GatherDecoder): Six6GatherDecoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(E3M2Decoder): E3M2Decoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(E4M3Decoder): E4M3Decoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            case nameof(E5M2Decoder): E5M2Decoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
            default: Byte8GatherDecoder.DecodeFloat(p, l, out f0, out f1, out f2, out f3); break;
        }
    }

    private static (Vector256<sbyte> Plain, Vector256<sbyte> Dot, bool Split) DecodeInt8(string decoder, byte* p, in DecodeLuts l) => decoder switch
    {
        nameof(Nibble4Decoder) => (Nibble4Decoder.DecodeInt8(p, l), Nibble4Decoder.DecodeInt8Dot(p, l), Nibble4Decoder.SplitOrder),
        nameof(Int8Decoder) => (Int8Decoder.DecodeInt8(p, l), Int8Decoder.DecodeInt8Dot(p, l), Int8Decoder.SplitOrder),
        _ => (Six6IntDecoder.DecodeInt8(p, l), Six6IntDecoder.DecodeInt8Dot(p, l), Six6IntDecoder.SplitOrder),
    };

    // Every code at least twice, shuffled, padded to whole 32-element chunks.
    private static int[] AllCodesInChunksOf32(int bits, int seed)
    {
        int n = 1 << bits;
        var codes = Enumerable.Range(0, Math.Max(64, 2 * n)).Select(i => i % n).ToArray();
        new Random(seed).Shuffle(codes);
        return codes;
    }

    private static byte[] Pack(int[] codes, int bits)
    {
        var bytes = new byte[codes.Length * bits / 8];
        for (int i = 0; i < codes.Length; i++)
            for (int b = 0; b < bits; b++)
                if (((codes[i] >> b) & 1) != 0) bytes[(i * bits + b) >> 3] |= (byte)(1 << ((i * bits + b) & 7));
        return bytes;
    }
}
