namespace Mx.Runtime.Tests.Kernels;

/// <summary>Format/block-size configurations × shapes every GEMM test runs over.</summary>
internal static class GemmCases
{
    // Every format at its default block size, then the non-default block sizes that select other code paths.
    public static readonly (string Format, int BlockSize)[] Layouts =
    [
        ("mxfp8_e4m3", 32), ("mxfp8_e5m2", 32), ("mxfp6_e3m2", 32), ("mxfp6_e2m3", 32), ("mxfp4_e2m1", 32),
        ("mxint8", 32), ("mxint4", 32), ("mx9", 16), ("mx6", 16), ("mx4", 16),
        ("mxfp4_e2m1", 64), ("mxint8", 64), ("mxfp6_e2m3", 64), ("mxfp4_e2m1", 16), ("mxint8", 8), ("mxfp8_e4m3", 64), ("mx6", 8),
    ];

    // (M, K, N, bias): M = 0, GEMV (M = 1..3), tiled (M ≥ 4, not a multiple of 6), K not a multiple of 32 or of the
    // 256-wide K panel, N = 1 and N not a multiple of 4 or 16; M ≥ 32 (the MX×MX tile GEMM: M not a multiple of 8, a
    // partial last tile, K blocks of 4096).
    public static readonly (int M, int K, int N, bool Bias)[] Shapes =
    [
        (0, 64, 8, true), (1, 32, 1, true), (1, 100, 9, false), (1, 257, 33, true), (3, 70, 5, true),
        (7, 96, 17, true), (20, 300, 40, false), (13, 600, 35, true), (4, 40, 1, false), (1, 1100, 9, true), (5, 4700, 6, true),
        (40, 600, 33, true), (33, 4700, 20, false),
    ];

    public static IEnumerable<TestCaseData> All() =>
        from l in Layouts
        from s in Shapes
        select new TestCaseData(l.Format, l.BlockSize, s.M, s.K, s.N, s.Bias)
            .SetArgDisplayNames(l.Format, $"bs{l.BlockSize}", $"M{s.M}", $"K{s.K}", $"N{s.N}", s.Bias ? "bias" : "nobias");
}
