namespace Mx.Calibration.Ocs;

/// <summary>
/// Plans outlier channel splitting (Zhao et al., ICML 2019) for a weight: repeatedly take the channel holding the
/// largest-magnitude weight, halve it and append the copy, ⌈ratio·K⌉ times. Optionally reorders channels so that the
/// outlier channels sit together at the end (an MX block shares one scale among its channels).
/// </summary>
public static class ChannelSplitPlanner
{
    /// <summary>A channel is an outlier when its amax is at least this multiple of the median channel amax.</summary>
    public const float OutlierFactor = 4f;

    /// <summary>
    /// The split map for <paramref name="w"/>: ⌈ratio·K⌉ splits, rounded up so that K' fills its last block of
    /// <paramref name="blockSize"/> when one is given (the packed layout stores the padding anyway, so the extra splits
    /// cost no bits). Identity when <paramref name="ratio"/> is 0.
    /// </summary>
    public static ChannelMap Split(ReadOnlySpan<float> w, WeightView view, double ratio, int? blockSize = null) =>
        SplitByAmax(view.ChannelAmax(w), ratio, blockSize);

    /// <summary>
    /// The split map for channels whose max |value| is <paramref name="amax"/> (a weight's channels, or an activation's
    /// columns from the calibration statistics): the same rule as <see cref="Split"/>.
    /// </summary>
    public static ChannelMap SplitByAmax(float[] amax, double ratio, int? blockSize = null)
    {
        ArgumentNullException.ThrowIfNull(amax);
        if (ratio < 0 || ratio > 1 || double.IsNaN(ratio)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "the OCS expand ratio must be in [0, 1]");
        int k = amax.Length;
        int splits = (int)Math.Ceiling(ratio * k - 1e-9);
        if (splits > 0 && blockSize is int b && b > 0) splits += (b - (k + splits) % b) % b;
        var sources = Enumerable.Range(0, k).ToList();
        var factors = Enumerable.Repeat(1f, k).ToList();
        for (int s = 0; s < splits; s++)
        {
            int best = 0;
            for (int j = 1; j < sources.Count; j++)
                if (amax[sources[j]] * factors[j] > amax[sources[best]] * factors[best]) best = j;
            factors[best] /= 2;
            sources.Add(sources[best]);
            factors.Add(factors[best]);
        }
        return new ChannelMap(sources.ToArray(), factors.ToArray());
    }

    /// <summary>
    /// The map with channels reordered: channels whose (scaled) amax is an outlier (≥ <see cref="OutlierFactor"/> × the
    /// median) move to the end, largest last, so they share blocks instead of setting the scale of many.
    /// </summary>
    public static ChannelMap GroupOutliers(ReadOnlySpan<float> w, WeightView view, ChannelMap map)
    {
        float[] amax = view.ChannelAmax(w);
        float[] scaled = map.Sources.Select((s, j) => amax[s] * map.Factors[j]).ToArray();
        float median = Median(scaled);
        var order = Enumerable.Range(0, map.Count)
            .OrderBy(j => scaled[j] >= OutlierFactor * median && median > 0 ? 1 : 0)
            .ThenBy(j => scaled[j] >= OutlierFactor * median && median > 0 ? scaled[j] : 0)
            .ThenBy(j => j).ToArray();
        return new ChannelMap(order.Select(j => map.Sources[j]).ToArray(), order.Select(j => map.Factors[j]).ToArray());
    }

    internal static float Median(float[] values)
    {
        if (values.Length == 0) return 0;
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }
}
