using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>E8M0 0xFF means NaN: a block with that scale, or an activation block holding NaN, must poison its outputs.</summary>
public class NaNPropagationTests
{
    private static readonly MxKernelPath[] Paths = Enum.GetValues<MxKernelPath>().Where(MxMatMulKernel.IsSupported).ToArray();

    [Test]
    public void NaNWeightScalePoisonsExactlyItsOutputColumn(
        [Values("mxfp4_e2m1", "mxint8", "mxfp8_e4m3", "mxfp6_e3m2", "mx6")] string format,
        [Values(1, 9)] int m, [Values] MxGemmMode mode, [ValueSource(nameof(Paths))] MxKernelPath path)
    {
        var p = new GemmProblem(format, format == "mx6" ? 16 : 32, m, 100, 7, bias: true);
        p.Packed.Scales[3 * ((100 + p.Packed.BlockSize - 1) / p.Packed.BlockSize) + 1] = 0xFF;   // row n = 3, block 1
        float[] y = p.Run(mode, path, SerialRunner.Instance);
        for (int r = 0; r < m; r++)
            for (int n = 0; n < p.N; n++)
                Assert.That(float.IsNaN(y[r * p.N + n]), Is.EqualTo(n == 3), $"Y[{r}, {n}] = {y[r * p.N + n]}");
    }

    [Test]
    public void NaNActivationPoisonsItsRowInMxMx([Values("mxfp4_e2m1", "mxint8", "mxfp8_e4m3")] string format, [ValueSource(nameof(Paths))] MxKernelPath path)
    {
        var p = new GemmProblem(format, 32, 5, 100, 7, bias: false);
        p.A[2 * p.K + 40] = float.NaN;   // row 2
        float[] y = p.Run(MxGemmMode.MxMx, path, SerialRunner.Instance);
        for (int r = 0; r < p.M; r++)
            for (int n = 0; n < p.N; n++)
                Assert.That(float.IsNaN(y[r * p.N + n]), Is.EqualTo(r == 2), $"Y[{r}, {n}] = {y[r * p.N + n]}");
    }
}
