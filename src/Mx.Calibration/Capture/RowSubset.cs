namespace Mx.Calibration.Capture;

/// <summary>A uniform random subset of rows without replacement (partial Fisher–Yates), returned in increasing order.</summary>
public static class RowSubset
{
    /// <summary>At most <paramref name="max"/> of <paramref name="available"/> (all of them, in order, when there are no more than that).</summary>
    public static long[] Choose(IReadOnlyList<long> available, int max, Random rng)
    {
        ArgumentNullException.ThrowIfNull(available);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var pool = available.ToArray();
        if (pool.Length <= max) return pool;
        for (int i = 0; i < max; i++)
        {
            int j = i + rng.Next(pool.Length - i);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        var chosen = pool.AsSpan(0, max).ToArray();
        Array.Sort(chosen);
        return chosen;
    }
}
