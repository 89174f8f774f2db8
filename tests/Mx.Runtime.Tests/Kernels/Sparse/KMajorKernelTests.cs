using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Kernels.Sparse;

namespace Mx.Runtime.Tests.Kernels.Sparse;

/// <summary>
/// The K-major kernels against the references: MX×MX against the reference MX arithmetic, weight-only against the
/// double-precision product; skipping zero blocks against visiting every block (bit for bit); the threshold against
/// zeroing those blocks by hand; a tile mask against the dense K-major weight; M past the GEMV paths (row-major copy).
/// Every path the CPU (and MX_DISABLE_ISA) allows runs, so the test.sh profiles cover the fallbacks.
/// </summary>
public class KMajorKernelTests
{
    private const double Tolerance = 1e-5;

    public static IEnumerable<TestCaseData> Cases()
    {
        var shapes = new (int M, int K, int N)[] { (1, 32, 1), (1, 70, 17), (1, 600, 40), (3, 1100, 16), (5, 64, 7), (16, 600, 33), (17, 300, 20), (1, 4700, 9) };
        foreach (string f in new[] { "mxfp4_e2m1", "mxint4", "mxint8" })
            foreach (var (m, k, n) in shapes)
                foreach (double density in new[] { 1.0, 0.5, 0.1, 0.0 })
                    yield return new TestCaseData(f, m, k, n, density).SetName($"{f} M={m} K={k} N={n} density={density}");
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesTheReferencesAndSkippingIsExact(string format, int m, int k, int n, double density)
    {
        var p = SparseProblem.Create(format, m, k, n, density, seed: 1);
        using var w = p.KMajor();
        foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
        {
            double[] want = mode == MxGemmMode.MxMx ? p.Gemm.ReferenceMxMx() : p.Gemm.ReferenceWeightOnly();
            float[] skip = p.Run(new MxKMajorKernel(w, mode));
            float[] all = p.Run(new MxKMajorKernel(w, mode, skipZeroBlocks: false));
            Assert.That(p.Gemm.WorstRelativeError(skip, want), Is.LessThanOrEqualTo(Tolerance), $"{mode} vs reference");
            Assert.That(skip, Is.EqualTo(all).AsCollection, $"{mode}: skipping zero blocks changes nothing");
        }
    }

    [TestCase("mxfp4_e2m1", 1), TestCase("mxint8", 1), TestCase("mxfp4_e2m1", 4)]
    public void ThresholdTreatsSmallBlocksAsZero(string format, int m)
    {
        var p = SparseProblem.Create(format, m, 1100, 40, 1.0, seed: 2);
        // Scale every other block of each row down so it falls under the threshold.
        for (int r = 0; r < m; r++)
            for (int i = 0; i < p.K; i++)
                if (i / 32 % 2 == 1) p.A[r * p.K + i] *= 1e-3f;
        const float threshold = 0.01f;
        float[] zeroed = p.A.Select((v, i) => i % p.K / 32 % 2 == 1 ? 0f : v).ToArray();
        using var w = p.KMajor();
        foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
        {
            var kernel = new MxKMajorKernel(w, mode, threshold);
            Assert.That(kernel.ActiveFraction(p.A, m), Is.EqualTo(0.5).Within(0.02));
            float[] got = p.Run(kernel), want = p.Run(new MxKMajorKernel(w, mode), zeroed);
            Assert.That(got, Is.EqualTo(want).AsCollection, mode.ToString());
        }
    }

    [TestCase("mxfp4_e2m1"), TestCase("mxint4"), TestCase("mxint8")]
    public void TileMaskSkipsStoredZeroTilesExactly(string format)
    {
        var p = SparseProblem.Create(format, 2, 600, 70, 0.5, seed: 3, zeroTileFraction: 0.4);
        using var dense = p.KMajor();
        var (e, mask) = p.Layout.Compact(p.DenseElements);
        Assert.That(e.Length, Is.LessThan(p.DenseElements.Length), "all-zero tiles are not stored");
        using var sparse = new MxKMajorWeight(p.Layout, e, p.Scales, mask);
        Assert.That(sparse.StoredTiles * p.Layout.TileBytes, Is.EqualTo(e.Length));
        foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
        {
            Assert.That(p.Run(new MxKMajorKernel(sparse, mode)), Is.EqualTo(p.Run(new MxKMajorKernel(dense, mode))).AsCollection, mode.ToString());
            double[] want = mode == MxGemmMode.MxMx ? p.Gemm.ReferenceMxMx() : p.Gemm.ReferenceWeightOnly();
            Assert.That(p.Gemm.WorstRelativeError(p.Run(new MxKMajorKernel(sparse, mode)), want), Is.LessThanOrEqualTo(Tolerance));
        }
    }

    [Test]
    public void CallsAllocateNothingAfterWarmUp([Values] MxGemmMode mode)
    {
        var p = SparseProblem.Create("mxfp4_e2m1", 1, 1100, 40, 0.5, seed: 4);
        using var w = p.KMajor();
        var kernel = new MxKMajorKernel(w, mode);
        if (kernel.ImplementationFor(1).StartsWith("row-major", StringComparison.Ordinal)) Assert.Ignore($"no K-major GEMV here: {kernel.ImplementationFor(1)}");
        var y = new float[p.N];
        for (int i = 0; i < 200; i++) kernel.Run(p.A, 1, p.Gemm.Bias, y, SerialRunner.Instance);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) kernel.Run(p.A, 1, p.Gemm.Bias, y, SerialRunner.Instance);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero, kernel.ImplementationFor(1));
    }

    [Test]
    public void SerialAndParallelRunnersAgreeBitForBit([Values] MxGemmMode mode)
    {
        var p = SparseProblem.Create("mxint8", 3, 1100, 100, 0.5, seed: 5);
        using var w = p.KMajor();
        var kernel = new MxKMajorKernel(w, mode);
        Assert.That(p.Run(kernel, runner: new ThreadPoolRunner(4)), Is.EqualTo(p.Run(kernel)).AsCollection);
    }

    [Test]
    public void NaNActivationsPropagate([Values] MxGemmMode mode)
    {
        var p = SparseProblem.Create("mxfp4_e2m1", 1, 600, 20, 0.1, seed: 6);
        p.A[5 * 32 + 3] = float.NaN;
        using var w = p.KMajor();
        Assert.That(p.Run(new MxKMajorKernel(w, mode)).All(float.IsNaN), Is.True);
    }

    [Test]
    public void LayoutRefusesFormatsItCannotHold()
    {
        Assert.Throws<ArgumentException>(() => new MxKMajorLayout(MxFormats.Parse("mxfp8_e4m3"), 16, 64, 32));
        Assert.Throws<ArgumentException>(() => new MxKMajorLayout(MxFormats.Parse("mxfp4_e2m1"), 16, 64, 64));
        var e = Assert.Throws<ArgumentException>(() => new MxKMajorWeight(new MxKMajorLayout(MxFormats.Parse("mxfp4_e2m1"), 16, 64, 32), new byte[10], new byte[32]))!;
        Assert.That(e.Message, Does.Contain("512"));
    }
}
