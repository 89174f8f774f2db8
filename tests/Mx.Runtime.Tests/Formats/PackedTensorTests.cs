using Mx.Runtime.Formats;

namespace Mx.Runtime.Tests.Formats;

/// <summary>Packed layout, bit packing, axes, padding, views and metrics.</summary>
public class PackedTensorTests
{
    [TestCase(3), TestCase(4), TestCase(5), TestCase(6), TestCase(8)]
    public void BitPackingRoundTripsAndIsLsbFirst(int bits)
    {
        var rng = new Random(bits);
        byte[] codes = new byte[64];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)rng.Next(1 << bits);
        byte[] packed = new byte[MxBitPacking.PackedBytes(codes.Length, bits)];
        MxBitPacking.Pack(codes, packed, bits);
        // Independent check: bit j of the stream is bit (j mod bits) of element j / bits.
        for (int j = 0; j < codes.Length * bits; j++)
            Assert.That((packed[j / 8] >> (j % 8)) & 1, Is.EqualTo((codes[j / bits] >> (j % bits)) & 1), $"bit {j}");
        byte[] back = new byte[codes.Length];
        MxBitPacking.Unpack(packed, back, bits);
        Assert.That(back, Is.EqualTo(codes));
    }

    public static IEnumerable<TestCaseData> AxisCases()
    {
        foreach (var f in MxFormats.All)
            foreach (int axis in new[] { 0, 1, 2 })
                yield return new TestCaseData(f, axis);
    }

    [TestCaseSource(nameof(AxisCases))]
    public void EveryAxisPacksEachRowLikeTheRowCodec(MxFormat f, int axis)
    {
        int[] shape = [5, 37, 3];
        var rng = new Random(7 * axis + f.Id);
        float[] x = Enumerable.Range(0, 5 * 37 * 3).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var opts = new MxQuantizeOptions(f) { Axis = axis, BlockSize = 16 };
        var t = MxQuantizer.Quantize(x, shape, opts);
        var l = t.Layout;
        int k = shape[axis];
        Assert.That(l.K, Is.EqualTo(k));
        Assert.That(l.Rows, Is.EqualTo(x.Length / k));
        Assert.That(l.BlocksPerRow, Is.EqualTo((k + 15) / 16));
        // Independent row enumeration: row-major over the other axes.
        int[] others = Enumerable.Range(0, 3).Where(a => a != axis).ToArray();
        float[] dq = MxQuantizer.Dequantize(t);
        long r = 0;
        for (int i = 0; i < shape[others[0]]; i++)
            for (int j = 0; j < shape[others[1]]; j++, r++)
            {
                float[] row = new float[k];
                int[] at = new int[k];
                for (int kk = 0; kk < k; kk++)
                {
                    int[] idx = new int[3];
                    idx[others[0]] = i; idx[others[1]] = j; idx[axis] = kk;
                    at[kk] = (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2];
                    row[kk] = x[at[kk]];
                }
                byte[] e = new byte[l.RowBytes], s = new byte[l.BlocksPerRow], m = new byte[l.BlocksPerRow * l.MicroBytesPerBlock];
                MxRowCodec.Quantize(f, row, 16, e, s, m, path: MxCodecPath.Scalar);
                Assert.That(t.Elements.Slice((int)(r * l.RowBytes), l.RowBytes).ToArray(), Is.EqualTo(e), $"row {r} elements");
                Assert.That(t.Scales.Slice((int)(r * l.BlocksPerRow), l.BlocksPerRow).ToArray(), Is.EqualTo(s), $"row {r} scales");
                Assert.That(t.Micro.Slice((int)(r * m.Length), m.Length).ToArray(), Is.EqualTo(m), $"row {r} micro");
                // Dequantize puts every value back at its logical index.
                float[] back = new float[k];
                MxRowCodec.Dequantize(f, e, s, m, 16, back, MxCodecPath.Scalar);
                Assert.That(at.Select(a => dq[a]).ToArray(), Is.EqualTo(back), $"row {r} dequantized");
            }
    }

    [Test]
    public void PaddingIsZeroCodesAndNotCountedAsData()
    {
        var f = MxFormats.Mxfp4E2M1;
        float[] x = Enumerable.Range(1, 37).Select(i => (float)i).ToArray();
        var report = MxTensorReport.Create(x, [37], new MxQuantizeOptions(f));
        var l = report.Packed.Layout;
        Assert.That(l.PaddedK, Is.EqualTo(64));
        byte[] codes = new byte[64];
        MxBitPacking.Unpack(report.Packed.Elements.Span, codes, 4);
        Assert.That(codes[37..], Is.All.EqualTo(0));
        Assert.That(report.Error.Count, Is.EqualTo(37));
        Assert.That(report.Dequantized, Has.Length.EqualTo(37));
        Assert.That(report.BitsPerElement, Is.EqualTo(8.0 * (32 + 2) / 37).Within(1e-12));
        var blocks = report.PerBlock(x);
        Assert.That(blocks.Select(b => b.Count), Is.EqualTo(new long[] { 32, 5 }));
        var total = blocks[0].Add(blocks[1]);
        Assert.That(total.SumSquaredError, Is.EqualTo(report.Error.SumSquaredError).Within(1e-9));
        double mse = x.Select((v, i) => (report.Dequantized[i] - (double)v) * (report.Dequantized[i] - (double)v)).Average();
        Assert.That(report.Mse, Is.EqualTo(mse).Within(1e-12));
        Assert.That(report.SqnrDb, Is.EqualTo(10 * Math.Log10(x.Sum(v => (double)v * v) / (mse * 37))).Within(1e-9));
    }

    [Test]
    public void ViewOverExistingMemoryDecodesWithoutCopy()
    {
        var f = MxFormats.Mx6;
        float[] x = Enumerable.Range(0, 4 * 48).Select(i => MathF.Sin(i)).ToArray();
        var t = MxQuantizer.Quantize(x, [4, 48], new MxQuantizeOptions(f));
        // One file-like buffer: elements, then scales, then micro.
        byte[] file = [.. t.Elements.ToArray(), .. t.Scales.ToArray(), .. t.Micro.ToArray()];
        var mem = new ReadOnlyMemory<byte>(file);
        int e = t.Elements.Length, s = t.Scales.Length;
        var view = MxPackedTensor.View(f, [4, 48], -1, 16, mem[..e], mem.Slice(e, s), mem[(e + s)..]);
        Assert.That(MxQuantizer.Dequantize(view), Is.EqualTo(MxQuantizer.Dequantize(t)));
        Assert.That(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(view.Elements, out var seg) && seg.Array == file, "no copy");
    }

    [Test]
    public void ViewRejectsWrongBufferSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => MxPackedTensor.View(MxFormats.Mxfp4E2M1, [3, 40], 1, 32, new byte[95], new byte[6]));
        Assert.That(ex!.Message, Does.Contain("elements").And.Contain("96"));
        ex = Assert.Throws<ArgumentException>(() => MxPackedTensor.View(MxFormats.Mx9, [2, 16], 1, 16, new byte[32], new byte[2]));
        Assert.That(ex!.Message, Does.Contain("micro").And.Contain("2"));
        Assert.Throws<ArgumentException>(() => new MxPackedLayout(MxFormats.Mxint8, [4], 0, 24));
        Assert.Throws<ArgumentException>(() => new MxPackedLayout(MxFormats.Mxint8, [4], 1, 32));
        Assert.Throws<ArgumentException>(() => new MxPackedLayout(MxFormats.Mx4, [4], 0, 8));
    }

    [Test]
    public void NanAndInfBlocksGetNanScaleAndZeroBlocksScaleZero()
    {
        foreach (var f in MxFormats.All)
        {
            float[] x = new float[64];
            x[3] = float.NaN;
            x[40] = float.NegativeInfinity;
            var t = MxQuantizer.Quantize(x.Concat(new float[32]).ToArray(), [96], new MxQuantizeOptions(f) { BlockSize = 32 });
            Assert.That(t.Scales.ToArray(), Is.EqualTo(new byte[] { 0xFF, 0xFF, 0 }), f.Name);
            float[] dq = MxQuantizer.Dequantize(t);
            Assert.That(dq[..64], Is.All.NaN, f.Name);
            Assert.That(dq[64..], Is.All.EqualTo(0f), f.Name);
        }
    }
}
