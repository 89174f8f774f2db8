namespace Mx.Calibration.Statistics;

/// <summary>
/// A fixed-size histogram of magnitudes on a log2 scale: <see cref="BinsPerOctave"/> bins per power of two from
/// 2^<see cref="MinExponent"/> to 2^<see cref="MaxExponent"/> (smaller non-zero magnitudes fall in the first bin, larger
/// in the last; zeros are counted apart). Memory is fixed whatever the number of values added, and a percentile read
/// from it is within one bin — a factor 2^(1/<see cref="BinsPerOctave"/>) — of the exact one.
/// </summary>
public sealed class Log2Histogram
{
    /// <summary>Bins per power of two.</summary>
    public const int BinsPerOctave = 8;

    /// <summary>log2 of the lower edge of the first bin.</summary>
    public const int MinExponent = -64;

    /// <summary>log2 of the upper edge of the last bin.</summary>
    public const int MaxExponent = 64;

    private readonly long[] _bins = new long[(MaxExponent - MinExponent) * BinsPerOctave];

    /// <summary>Values added, zeros included.</summary>
    public long Count { get; private set; }

    /// <summary>Zeros added.</summary>
    public long Zeros { get; private set; }

    /// <summary>The bin counts (read-only view).</summary>
    public ReadOnlySpan<long> Bins => _bins;

    /// <summary>The bin of a non-zero magnitude.</summary>
    public static int BinOf(double magnitude)
    {
        double b = Math.Floor((Math.Log2(magnitude) - MinExponent) * BinsPerOctave);
        return (int)Math.Clamp(b, 0, (MaxExponent - MinExponent) * BinsPerOctave - 1);
    }

    /// <summary>The upper edge of bin <paramref name="bin"/>.</summary>
    public static double UpperEdge(int bin) => Math.Pow(2, MinExponent + (bin + 1) / (double)BinsPerOctave);

    /// <summary>The lower edge of bin <paramref name="bin"/>.</summary>
    public static double LowerEdge(int bin) => Math.Pow(2, MinExponent + bin / (double)BinsPerOctave);

    /// <summary>Adds |<paramref name="value"/>| (NaN is ignored).</summary>
    public void Add(float value)
    {
        float a = Math.Abs(value);
        if (float.IsNaN(a)) return;
        Count++;
        if (a == 0) Zeros++;
        else _bins[BinOf(a)]++;
    }

    /// <summary>Adds every histogram count of <paramref name="other"/>.</summary>
    public void Merge(Log2Histogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _bins.Length; i++) _bins[i] += other._bins[i];
        Count += other.Count;
        Zeros += other.Zeros;
    }

    /// <summary>
    /// The magnitude below or at which a fraction <paramref name="p"/> (0..1) of the values lie: the upper edge of the bin
    /// holding the ⌈p·Count⌉-th smallest value (0 when it is a zero). Null when nothing was added.
    /// </summary>
    public double? Percentile(double p)
    {
        if (Count == 0) return null;
        if (p is < 0 or > 1 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p), p, "a percentile is between 0 and 1");
        long rank = Math.Max(1, (long)Math.Ceiling(p * Count));
        if (rank <= Zeros) return 0;
        long seen = Zeros;
        for (int i = 0; i < _bins.Length; i++)
        {
            seen += _bins[i];
            if (seen >= rank) return UpperEdge(i);
        }
        return UpperEdge(_bins.Length - 1);
    }
}
