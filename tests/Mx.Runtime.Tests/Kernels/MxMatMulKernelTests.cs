using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

public class MxMatMulKernelTests
{
    // fp32 accumulation against double: ~sqrt(K)·eps relative to the output scale for these sizes.
    private const double Tolerance = 1e-5;
    private static readonly IParallelRunner Parallel4 = new ThreadPoolRunner(4);

    /// <summary>Every SIMD path this CPU can run (each is checked against the references below).</summary>
    internal static readonly MxKernelPath[] FastPaths =
        new[] { MxKernelPath.Auto, MxKernelPath.Avx2, MxKernelPath.Avx512 }.Where(MxMatMulKernel.IsSupported).ToArray();

    [TestCaseSource(typeof(GemmCases), nameof(GemmCases.All))]
    public void WeightOnly_MatchesDoubleReference(string format, int bs, int m, int k, int n, bool bias)
    {
        var p = new GemmProblem(format, bs, m, k, n, bias);
        double[] want = p.ReferenceWeightOnly();
        foreach (var path in FastPaths)
            Assert.That(p.WorstRelativeError(p.Run(MxGemmMode.WeightOnly, path, Parallel4), want), Is.LessThanOrEqualTo(Tolerance), $"fast path {path}");
        Assert.That(p.WorstRelativeError(p.Run(MxGemmMode.WeightOnly, MxKernelPath.Reference, Parallel4), want), Is.LessThanOrEqualTo(1e-6), "plain reference kernel");
    }

    [TestCaseSource(typeof(GemmCases), nameof(GemmCases.All))]
    public void WeightOnly_SimdMatchesPlainReferenceKernel(string format, int bs, int m, int k, int n, bool bias)
    {
        var p = new GemmProblem(format, bs, m, k, n, bias, seed: 2);
        float[] plain = p.Run(MxGemmMode.WeightOnly, MxKernelPath.Reference, SerialRunner.Instance);
        foreach (var path in FastPaths)
        {
            float[] simd = p.Run(MxGemmMode.WeightOnly, path, SerialRunner.Instance);
            Assert.That(p.WorstRelativeError(simd, plain), Is.LessThanOrEqualTo(Tolerance), path.ToString());
        }
    }

    [TestCaseSource(typeof(GemmCases), nameof(GemmCases.All))]
    public void MxMx_MatchesReferenceMxArithmetic(string format, int bs, int m, int k, int n, bool bias)
    {
        var p = new GemmProblem(format, bs, m, k, n, bias, seed: 3);
        double[] want = p.ReferenceMxMx();
        foreach (var path in FastPaths)
            Assert.That(p.WorstRelativeError(p.Run(MxGemmMode.MxMx, path, Parallel4), want), Is.LessThanOrEqualTo(Tolerance), $"fast path {path}");
        Assert.That(p.WorstRelativeError(p.Run(MxGemmMode.MxMx, MxKernelPath.Reference, Parallel4), want), Is.LessThanOrEqualTo(1e-6), "plain reference kernel");
    }

    [TestCaseSource(typeof(GemmCases), nameof(GemmCases.All))]
    public void SerialAndParallelRunnersGiveIdenticalResults(string format, int bs, int m, int k, int n, bool bias)
    {
        var p = new GemmProblem(format, bs, m, k, n, bias, seed: 4);
        foreach (var path in FastPaths)
            foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
                Assert.That(p.Run(mode, path, Parallel4), Is.EqualTo(p.Run(mode, path, SerialRunner.Instance)).AsCollection, $"{mode} {path}");
    }

    // Past 4 MiB of weight the GEMV splits into several items per thread; the split must not change a bit, and an
    // N that is no multiple of the item size leaves a ragged last item.
    [TestCase("mxint8", 4096, 1100)]
    [TestCase("mxfp4_e2m1", 8192, 1060)]
    public void LargeGemvSplitMatchesSerial(string format, int k, int n)
    {
        var p = new GemmProblem(format, 32, 1, k, n, true, seed: 9);
        foreach (var path in FastPaths)
            Assert.That(p.Run(MxGemmMode.MxMx, path, Parallel4), Is.EqualTo(p.Run(MxGemmMode.MxMx, path, SerialRunner.Instance)).AsCollection, $"{path}");
        double[] want = p.ReferenceMxMx();
        Assert.That(p.WorstRelativeError(p.Run(MxGemmMode.MxMx, MxKernelPath.Auto, Parallel4), want), Is.LessThanOrEqualTo(Tolerance));
    }

    [Test]
    public void PathsResolveAndUnsupportedPathsThrow([Values] MxKernelPath path)
    {
        var p = new GemmProblem("mxfp4_e2m1", 32, 1, 64, 8, true);
        using var w = p.Packed.View();
        if (!MxMatMulKernel.IsSupported(path))
        {
            Assert.Throws<NotSupportedException>(() => new MxMatMulKernel(w, MxGemmMode.MxMx, path));
            return;
        }
        var kernel = new MxMatMulKernel(w, MxGemmMode.MxMx, path);
        Assert.That(kernel.Path, Is.Not.EqualTo(MxKernelPath.Auto));
        if (path != MxKernelPath.Auto) Assert.That(kernel.Path, Is.EqualTo(path));
        Assert.That(kernel.Implementation, Does.StartWith(kernel.Path switch
        {
            MxKernelPath.Avx512 => "avx512",
            MxKernelPath.Avx2 => "avx2",
            _ => "reference",
        }));
    }

    // The AVX-512 M = 1 paths (MXINT8 weight-only runs the AVX2 GEMV, which allocates a closure per call).
    [TestCase(MxGemmMode.WeightOnly, "mxfp4_e2m1")]
    [TestCase(MxGemmMode.MxMx, "mxfp4_e2m1")]
    [TestCase(MxGemmMode.MxMx, "mxint8")]
    public void Avx512GemvCallsAllocateNothingAfterWarmUp(MxGemmMode mode, string format)
    {
        if (!MxMatMulKernel.IsSupported(MxKernelPath.Avx512)) Assert.Ignore("no AVX-512 on this CPU");
        var p = new GemmProblem(format, 32, 1, 1100, 40, true);
        using var w = p.Packed.View();
        var kernel = new MxMatMulKernel(w, mode, MxKernelPath.Avx512);
        var y = new float[p.N];
        for (int i = 0; i < 200; i++) kernel.Run(p.A, 1, p.Bias, y, SerialRunner.Instance);   // past JIT tiering
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) kernel.Run(p.A, 1, p.Bias, y, SerialRunner.Instance);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero, kernel.Implementation);
        Assert.That(y.All(float.IsFinite), Is.True);
    }

    [Test]
    public void MEqualsZeroWritesNothing([Values] MxGemmMode mode)
    {
        var p = new GemmProblem("mxfp4_e2m1", 32, 1, 64, 8, true);
        using var w = p.Packed.View();
        var y = new float[] { 1, 2, 3 };
        new MxMatMulKernel(w, mode).Run(ReadOnlySpan<float>.Empty, 0, p.Bias, y);
        Assert.That(y, Is.EqualTo(new float[] { 1, 2, 3 }).AsCollection);
    }

    [Test]
    public void NativeMemoryViewGivesTheSameResultsAsManagedView([Values] MxGemmMode mode)
    {
        var p = new GemmProblem("mxfp4_e2m1", 32, 5, 200, 21, true);
        float[] managed = p.Run(mode, MxKernelPath.Auto, SerialRunner.Instance);
        unsafe
        {
            byte* e = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)p.Packed.Elements.Length);
            byte* s = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)p.Packed.Scales.Length);
            try
            {
                p.Packed.Elements.CopyTo(new Span<byte>(e, p.Packed.Elements.Length));
                p.Packed.Scales.CopyTo(new Span<byte>(s, p.Packed.Scales.Length));
                using var w = MxPackedWeight.FromPointers(p.Format, p.N, p.K, 32, (nint)e, p.Packed.Elements.Length, (nint)s, p.Packed.Scales.Length);
                var y = new float[p.M * p.N];
                new MxMatMulKernel(w, mode).Run(p.A, p.M, p.Bias, y, SerialRunner.Instance);
                Assert.That(y, Is.EqualTo(managed).AsCollection);
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.Free(e);
                System.Runtime.InteropServices.NativeMemory.Free(s);
            }
        }
    }

    [Test]
    public void ConcurrentCallsOnOneKernelInstanceAreIndependent([Values] MxGemmMode mode, [Values(1, 9)] int m)
    {
        var p = new GemmProblem("mxfp4_e2m1", 32, m, 300, 50, true);
        using var w = p.Packed.View();
        var kernel = new MxMatMulKernel(w, mode);
        var rng = new Random(5);
        float[][] inputs = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, m * p.K).Select(_ => (float)TestPacker.Gaussian(rng)).ToArray()).ToArray();
        float[][] expected = inputs.Select(a => { var y = new float[m * p.N]; kernel.Run(a, m, p.Bias, y, SerialRunner.Instance); return y; }).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            for (int iter = 0; iter < 25; iter++)
            {
                int i = (t * 3 + iter) % inputs.Length;
                var y = new float[m * p.N];
                kernel.Run(inputs[i], m, p.Bias, y, iter % 2 == 0 ? SerialRunner.Instance : Parallel4);
                if (!y.AsSpan().SequenceEqual(expected[i])) failures.Add($"thread {t} iteration {iter} input {i}");
            }
        })).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.That(failures, Is.Empty);
    }
}
