namespace Mx.Calibration.Ocs;

/// <summary>How many MX blocks of a weight have their shared scale set by an outlier.</summary>
/// <param name="Blocks">Blocks in the weight.</param>
/// <param name="OutlierBlocks">Blocks whose amax is at least the outlier threshold: <see cref="ChannelSplitPlanner.OutlierFactor"/> × the median channel amax of the original weight (so the scale is an outlier channel's).</param>
public sealed record BlockOutlierCount(long Blocks, long OutlierBlocks)
{
    /// <summary>The threshold for a weight: <see cref="ChannelSplitPlanner.OutlierFactor"/> × its median channel amax.</summary>
    public static float Threshold(ReadOnlySpan<float> w, WeightView view) => ChannelSplitPlanner.OutlierFactor * ChannelSplitPlanner.Median(view.ChannelAmax(w));

    /// <summary>Counts for <paramref name="w"/> seen through <paramref name="view"/>, blocks of <paramref name="blockSize"/> along K (the last one padded).</summary>
    /// <param name="w">The weight (original or split).</param>
    /// <param name="view">Its channel view.</param>
    /// <param name="blockSize">Channels per block.</param>
    /// <param name="threshold">The outlier threshold of the original weight (<see cref="Threshold"/>).</param>
    public static BlockOutlierCount Of(ReadOnlySpan<float> w, WeightView view, int blockSize, float threshold)
    {
        int nb = (view.K + blockSize - 1) / blockSize;
        var amax = new float[(long)nb * view.N];
        for (int k = 0; k < view.K; k++)
            for (int n = 0; n < view.N; n++)
            {
                long b = (long)n * nb + k / blockSize;
                amax[b] = Math.Max(amax[b], Math.Abs(w[view.Index(k, n)]));
            }
        long outliers = threshold > 0 ? amax.LongCount(a => a >= threshold) : 0;
        return new BlockOutlierCount(amax.LongLength, outliers);
    }
}
