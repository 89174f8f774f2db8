namespace Mx.Calibration.Statistics;

/// <summary>
/// A uniform random sample of fixed capacity from a stream of rows (reservoir sampling, Vitter's algorithm R): after
/// n rows each row is held with probability capacity/n, and memory never exceeds <see cref="Capacity"/> rows.
/// Seeded, so a run is reproducible.
/// </summary>
public sealed class RowReservoir
{
    private readonly List<float[]> _rows = [];
    private readonly Random _rng;

    /// <summary>A reservoir of at most <paramref name="capacity"/> rows of <paramref name="width"/> values.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A capacity or width below 1.</exception>
    public RowReservoir(int capacity, int width, int seed = 12345)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Capacity = capacity;
        Width = width;
        _rng = new Random(seed);
    }

    /// <summary>Most rows held.</summary>
    public int Capacity { get; }

    /// <summary>Values per row.</summary>
    public int Width { get; }

    /// <summary>Rows offered so far.</summary>
    public long Seen { get; private set; }

    /// <summary>The rows held (at most <see cref="Capacity"/>).</summary>
    public IReadOnlyList<float[]> Rows => _rows;

    /// <summary>Offers a row (copied when kept).</summary>
    /// <exception cref="ArgumentException">The row is not <see cref="Width"/> long.</exception>
    public void Offer(ReadOnlySpan<float> row)
    {
        if (row.Length != Width) throw new ArgumentException($"a row of {row.Length} values offered to a reservoir of rows of {Width}");
        Seen++;
        if (_rows.Count < Capacity)
        {
            _rows.Add(row.ToArray());
            return;
        }
        long j = _rng.NextInt64(Seen);
        if (j < Capacity) row.CopyTo(_rows[(int)j]);
    }

    /// <summary>The held rows as one row-major [rows, <see cref="Width"/>] array.</summary>
    public float[] ToMatrix()
    {
        var m = new float[(long)_rows.Count * Width];
        for (int r = 0; r < _rows.Count; r++) _rows[r].CopyTo(m, (long)r * Width);
        return m;
    }
}
