using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Kernels.Sparse;

namespace Mx.Runtime.Tests.Kernels.Sparse;

/// <summary>
/// A GEMM problem whose activations have zero K-blocks (a seeded random block mask of the given density, the same for
/// every row, as ReLU-like sparsity) and, optionally, whose weights have all-zero (K-block, 16-row tile)s; with its
/// K-major buffers.
/// </summary>
internal sealed class SparseProblem
{
    private SparseProblem(GemmProblem gemm, MxKMajorLayout layout, byte[] dense, byte[] scales)
    {
        Gemm = gemm;
        Layout = layout;
        DenseElements = dense;
        Scales = scales;
    }

    public GemmProblem Gemm { get; }
    public MxKMajorLayout Layout { get; }
    public byte[] DenseElements { get; }
    public byte[] Scales { get; }
    public float[] A => Gemm.A;
    public int M => Gemm.M;
    public int K => Gemm.K;
    public int N => Gemm.N;

    public static SparseProblem Create(string format, int m, int k, int n, double density, int seed, double zeroTileFraction = 0)
    {
        var gemm = new GemmProblem(format, 32, m, k, n, bias: true, seed: seed);
        var rng = new Random(seed);
        int nb = (k + 31) / 32;
        for (int j = 0; j < nb; j++)
            if (rng.NextDouble() >= density)
                for (int r = 0; r < m; r++)
                    for (int i = j * 32; i < Math.Min(k, j * 32 + 32); i++) gemm.A[r * k + i] = 0;
        var layout = new MxKMajorLayout(gemm.Format, n, k, 32);
        if (zeroTileFraction > 0)
            for (int j = 0; j < nb; j++)
                for (int t = 0; t < layout.Tiles; t++)
                    if (rng.NextDouble() < zeroTileFraction) ZeroTile(gemm, j, t);
        var (e, s) = layout.FromRowMajor(gemm.Packed.Elements, gemm.Packed.Scales);
        return new SparseProblem(gemm, layout, e, s);
    }

    // Zero codes (value +0) in rows 16t…16t+15 of block j, and in the test-side dequantized weight.
    private static void ZeroTile(GemmProblem g, int j, int t)
    {
        int bytes = 32 * g.Format.ElementBits / 8, nb = (g.K + 31) / 32;
        for (int n = t * 16; n < Math.Min(g.N, t * 16 + 16); n++)
        {
            Array.Clear(g.Packed.Elements, (n * nb + j) * bytes, bytes);
            for (int i = j * 32; i < Math.Min(g.K, j * 32 + 32); i++) g.Packed.Dequantized[n * g.K + i] = 0;
        }
    }

    public MxKMajorWeight KMajor() => new(Layout, DenseElements, Scales);

    public float[] Run(MxKMajorKernel kernel, float[]? a = null, IParallelRunner? runner = null)
    {
        var y = new float[M * N];
        kernel.Run(a ?? A, M, Gemm.Bias, y, runner ?? SerialRunner.Instance);
        return y;
    }
}
