namespace Mx.Calibration.Ocs;

/// <summary>
/// How a weight's input channels (its reduction axis K) are rearranged: channel <c>j</c> of the new weight is original
/// channel <see cref="Sources"/>[j] times <see cref="Factors"/>[j], and the matching activation column is original
/// column <see cref="Sources"/>[j]. Splitting a channel halves its factor and appends a copy; a reorder permutes both
/// arrays. The factors of each original channel sum to 1, so the product is unchanged in exact arithmetic.
/// </summary>
/// <param name="Sources">Original channel of each new channel.</param>
/// <param name="Factors">Scale applied to the original channel's weights.</param>
public sealed record ChannelMap(int[] Sources, float[] Factors)
{
    /// <summary>Channels after the map (K').</summary>
    public int Count => Sources.Length;

    /// <summary>The identity map of <paramref name="k"/> channels.</summary>
    public static ChannelMap Identity(int k) => new(Enumerable.Range(0, k).ToArray(), Enumerable.Repeat(1f, k).ToArray());

    /// <summary>Whether the map changes nothing.</summary>
    public bool IsIdentity => Sources.Select((s, j) => s == j && Factors[j] == 1f).All(x => x);

    /// <summary>The original channels that were split (sorted, distinct).</summary>
    public IReadOnlyList<int> SplitChannels => Sources.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key).Order().ToArray();

    /// <summary>Checks the map against an original channel count: sources in range, factors of each channel summing to 1.</summary>
    /// <exception cref="ArgumentException">The map is inconsistent; the message says how.</exception>
    public void Validate(int k, string where)
    {
        if (Sources.Length != Factors.Length) throw new ArgumentException($"{where}: {Sources.Length} sources but {Factors.Length} factors");
        var sum = new double[k];
        foreach (var (s, f) in Sources.Zip(Factors))
        {
            if (s < 0 || s >= k) throw new ArgumentException($"{where}: source channel {s} is outside 0..{k - 1}");
            sum[s] += f;
        }
        for (int c = 0; c < k; c++)
            if (Math.Abs(sum[c] - 1) > 1e-6) throw new ArgumentException($"{where}: the factors of channel {c} sum to {sum[c]}, not 1");
    }
}
