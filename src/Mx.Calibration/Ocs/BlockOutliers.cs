namespace Mx.Calibration.Ocs;

/// <summary>How many MX blocks of a weight have their shared scale set by an outlier.</summary>
/// <param name="Blocks">Blocks in the weight.</param>
/// <param name="OutlierBlocks">Blocks whose amax is at least <see cref="ChannelSplitPlanner.OutlierFactor"/> × the median block amax.</param>
public sealed record BlockOutlierCount(long Blocks, long OutlierBlocks)
{
    /// <summary>Counts for <paramref name="w"/> seen through <paramref name="view"/>, blocks of <paramref name="blockSize"/> along K (the last one padded).</summary>
    public static BlockOutlierCount Of(ReadOnlySpan<float> w, WeightView view, int blockSize)
    {
        int nb = (view.K + blockSize - 1) / blockSize;
        var amax = new float[(long)nb * view.N];
        for (int k = 0; k < view.K; k++)
            for (int n = 0; n < view.N; n++)
            {
                long b = (long)n * nb + k / blockSize;
                amax[b] = Math.Max(amax[b], Math.Abs(w[view.Index(k, n)]));
            }
        float median = ChannelSplitPlanner.Median(amax);
        long outliers = median > 0 ? amax.LongCount(a => a >= ChannelSplitPlanner.OutlierFactor * median) : 0;
        return new BlockOutlierCount(amax.LongLength, outliers);
    }
}
