using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

public class ValidationTests
{
    private static readonly byte[] Fp4Elements = new byte[3 * 2 * 16];   // N = 3, K = 40 → nb = 2, 16 bytes per block
    private static readonly byte[] Fp4Scales = new byte[3 * 2];

    [Test]
    public void ValidLayoutIsAccepted()
    {
        using var w = new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, 32, Fp4Elements, Fp4Scales);
        Assert.That((w.BlocksPerRow, w.PaddedK, w.RowBytes), Is.EqualTo((2, 64, 32)));
    }

    [Test]
    public void WrongElementsSizeIsRejected() =>
        Assert.That(() => new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, 32, new byte[95], Fp4Scales),
            Throws.ArgumentException.With.Message.Contains("elements buffer has 95 bytes").And.Message.Contains("96"));

    [Test]
    public void WrongScalesSizeIsRejected() =>
        Assert.That(() => new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, 32, Fp4Elements, new byte[5]),
            Throws.ArgumentException.With.Message.Contains("scales buffer has 5 bytes"));

    [Test]
    public void BadBlockSizeIsRejected([Values(0, 12, 48, 128)] int bs) =>
        Assert.That(() => new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, bs, Fp4Elements, Fp4Scales),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("block size"));

    [Test]
    public void MicroExponentFormatNeedsMicroBuffer() =>
        Assert.That(() => new MxPackedWeight(MxFormats.Mx6, 2, 16, 16, new byte[20], new byte[2]),
            Throws.ArgumentException.With.Message.Contains("micro"));

    [Test]
    public void MicroBufferForOtherFormatsIsRejected() =>
        Assert.That(() => new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, 32, Fp4Elements, Fp4Scales, new byte[6]),
            Throws.ArgumentException.With.Message.Contains("no micro-exponents"));

    [Test]
    public void NonPositiveDimensionsAreRejected()
    {
        Assert.That(() => new MxPackedWeight(MxFormats.Mxint8, 0, 32, 32, Array.Empty<byte>(), Array.Empty<byte>()), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("N ≥ 1"));
        Assert.That(() => new MxPackedWeight(MxFormats.Mxint8, 1, 0, 32, Array.Empty<byte>(), Array.Empty<byte>()), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("K ≥ 1"));
    }

    [Test]
    public void NullNativePointerIsRejected() =>
        Assert.That(() => MxPackedWeight.FromPointers(MxFormats.Mxfp4E2M1, 3, 40, 32, 0, 96, 1, 6),
            Throws.ArgumentException.With.Message.Contains("null elements pointer"));

    [Test]
    public void RunRejectsBadBuffers([Values] MxGemmMode mode)
    {
        using var w = new MxPackedWeight(MxFormats.Mxfp4E2M1, 3, 40, 32, Fp4Elements, Fp4Scales);
        var k = new MxMatMulKernel(w, mode);
        Assert.Multiple(() =>
        {
            Assert.That(() => k.Run(new float[79], 2, [], new float[6]), Throws.ArgumentException.With.Message.Contains("A has 79 floats"));
            Assert.That(() => k.Run(new float[80], 2, [], new float[5]), Throws.ArgumentException.With.Message.Contains("Y has 5 floats"));
            Assert.That(() => k.Run(new float[80], 2, new float[2], new float[6]), Throws.ArgumentException.With.Message.Contains("bias has 2 floats"));
            Assert.That(() => k.Run(new float[80], -1, [], new float[6]), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("M must be ≥ 0"));
        });
    }
}
