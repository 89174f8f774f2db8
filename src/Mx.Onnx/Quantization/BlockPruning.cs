using System.Runtime.InteropServices;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Zeroes the least important (K-block, 16-row tile) units of a float32 MatMul/Gemm weight, the unit the K-major
/// kernels skip (<see cref="MxKMajorLayout"/>): importance = Σ over the unit of w²·h_k, with h_k the input's second
/// moment at K index k where calibration measured it, else 1. Ties keep the lower index (deterministic).
/// </summary>
internal static class BlockPruning
{
    /// <summary>A pruned copy of <paramref name="source"/> (float32 bytes in <paramref name="layout"/>), and how many units were zeroed out of how many.</summary>
    public static (byte[] Data, int Pruned, int Units) Prune(ReadOnlySpan<byte> source, WeightLayout layout, double fraction, double[]? secondMoments)
    {
        if (fraction is < 0 or >= 1 || double.IsNaN(fraction)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "the pruned fraction must be in [0, 1)");
        int k = layout.K, n = layout.BlockShape[1 - layout.Axis];
        if (secondMoments != null && secondMoments.Length != k)
            throw new ArgumentException($"input second moments have {secondMoments.Length} values; K = {k}");
        byte[] copy = source.ToArray();
        var w = MemoryMarshal.Cast<byte, float>(copy.AsSpan());
        int blocks = (k + MxKMajorLayout.Block - 1) / MxKMajorLayout.Block, tiles = (n + MxKMajorLayout.TileRows - 1) / MxKMajorLayout.TileRows;
        int units = blocks * tiles, prune = (int)Math.Floor(fraction * units);
        if (prune == 0) return (copy, 0, units);
        // Element (k, n): [K, N] axis 0 → k·N + n; [N, K] axis 1 → n·K + k.
        long Index(int kk, int nn) => layout.Axis == 0 ? (long)kk * n + nn : (long)nn * k + kk;
        var score = new double[units];
        for (int kk = 0; kk < k; kk++)
        {
            double h = secondMoments?[kk] ?? 1.0;
            int j = kk / MxKMajorLayout.Block;
            for (int nn = 0; nn < n; nn++)
            {
                double v = w[(int)Index(kk, nn)];
                score[j * tiles + nn / MxKMajorLayout.TileRows] += v * v * h;
            }
        }
        int[] order = Enumerable.Range(0, units).OrderBy(u => score[u]).ThenBy(u => u).Take(prune).ToArray();
        foreach (int u in order)
        {
            int j = u / tiles, t = u % tiles;
            for (int kk = j * MxKMajorLayout.Block; kk < Math.Min(k, (j + 1) * MxKMajorLayout.Block); kk++)
                for (int nn = t * MxKMajorLayout.TileRows; nn < Math.Min(n, (t + 1) * MxKMajorLayout.TileRows); nn++)
                    w[(int)Index(kk, nn)] = 0f;
        }
        return (copy, prune, units);
    }
}
