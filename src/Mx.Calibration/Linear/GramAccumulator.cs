using Mx.Runtime.Cpu;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Mx.Calibration.Linear;

/// <summary>
/// Accumulates the Gram matrix H = Σ w·xᵀx of rows x of length <see cref="K"/> in float64 (the Hessian proxy of a
/// layer whose input rows are x: the layer-output error of a weight change Δ is tr(Δᵀ H Δ)). Rows arrive in batches,
/// each with a weight w (the number of rows a sampled row stands for). Only the upper triangle is accumulated;
/// <see cref="ToFull"/> mirrors it. Each entry is summed in the same order whatever the thread count, so the result
/// is deterministic.
/// </summary>
public sealed class GramAccumulator
{
    // Rows converted to float64 per pass of the kernel: 64 rows of K doubles stay in L2 for K up to a few thousand.
    private const int ChunkRows = 64;
    // Tile of H the kernel keeps in registers: 4 rows × 8 columns (two Vector256 of doubles per row).
    private const int TileRows = 4, TileColumns = 8;
    private readonly int _stride;
    private readonly double[] _h;

    /// <summary>An empty accumulator for rows of <paramref name="k"/> values.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is below 1 or so large that K² doubles exceed an array.</exception>
    public GramAccumulator(int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        _stride = (k + TileColumns - 1) / TileColumns * TileColumns;
        if ((long)_stride * _stride > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(k), k, "K² float64 values do not fit in one array");
        K = k;
        _h = new double[(long)_stride * _stride];
    }

    /// <summary>Row length.</summary>
    public int K { get; }

    /// <summary>Rows added (each batch row counts once, whatever its weight).</summary>
    public long Rows { get; private set; }

    /// <summary>Σ of the row weights: the number of rows H stands for.</summary>
    public double Weight { get; private set; }

    /// <summary>Bytes this accumulator holds.</summary>
    public long Bytes => _h.LongLength * sizeof(double);

    /// <summary>Adds <paramref name="count"/> rows (row-major, <see cref="K"/> values each), each weighing <paramref name="weight"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="rows"/> holds fewer than count·K values, or the weight is negative or not finite.</exception>
    public void Add(ReadOnlySpan<float> rows, int count, double weight = 1)
    {
        if (count < 0 || (long)count * K > rows.Length) throw new ArgumentException($"{count} rows of {K} values need {(long)count * K} values; {rows.Length} given");
        if (!(weight >= 0) || double.IsInfinity(weight)) throw new ArgumentException($"row weight {weight} is not a finite non-negative number");
        if (count == 0) return;
        var chunk = new double[ChunkRows * _stride];
        for (int start = 0; start < count; start += ChunkRows)
        {
            int n = Math.Min(ChunkRows, count - start);
            Array.Clear(chunk);
            for (int r = 0; r < n; r++)
            {
                var src = rows.Slice((start + r) * K, K);
                int o = r * _stride;
                for (int k = 0; k < K; k++) chunk[o + k] = src[k];
            }
            AddChunk(chunk, n, weight);
        }
        Rows += count;
        Weight += weight * count;
    }

    /// <summary>Adds every row of <paramref name="other"/> (same K).</summary>
    public void Merge(GramAccumulator other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.K != K) throw new ArgumentException($"cannot merge a Gram matrix of K = {other.K} into one of K = {K}");
        for (long i = 0; i < _h.LongLength; i++) _h[i] += other._h[i];
        Rows += other.Rows;
        Weight += other.Weight;
    }

    /// <summary>Entry (i, j) of H.</summary>
    public double this[int i, int j] => i <= j ? _h[(long)i * _stride + j] : _h[(long)j * _stride + i];

    /// <summary>H as a full symmetric row-major K × K array (a copy).</summary>
    public double[] ToFull()
    {
        var full = new double[(long)K * K];
        for (int i = 0; i < K; i++)
            for (int j = i; j < K; j++)
            {
                double v = _h[(long)i * _stride + j];
                full[(long)i * K + j] = v;
                full[(long)j * K + i] = v;
            }
        return full;
    }

    /// <summary>Writes H as a full symmetric row-major K × K float64 array to <paramref name="destination"/>, one row at a time (no full copy in memory).</summary>
    public void WriteFull(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var row = new double[K];
        for (int i = 0; i < K; i++)
        {
            for (int j = 0; j < K; j++) row[j] = this[i, j];
            destination.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
        }
    }

    // H[i, j] += w · Σ_r x[r, i] · x[r, j] for the upper tiles; each thread owns whole tile rows of H.
    private void AddChunk(double[] chunk, int n, double weight)
    {
        int tileRows = (K + TileRows - 1) / TileRows;
        long work = (long)K * K * n;
        if (work < 1 << 22 || Environment.ProcessorCount == 1)
            for (int t = 0; t < tileRows; t++) TileRow(chunk, n, weight, t * TileRows);
        else
            Parallel.For(0, tileRows, t => TileRow(chunk, n, weight, t * TileRows));
    }

    private void TileRow(double[] chunk, int n, double weight, int i0)
    {
        int rows = Math.Min(TileRows, K - i0);
        int jStart = i0 / TileColumns * TileColumns;
        for (int j0 = jStart; j0 < K; j0 += TileColumns)
        {
            if (CpuFeatures.Has(IsaFeatures.Avx2) && rows == TileRows)
                VectorTile(chunk, n, weight, i0, j0);
            else
                ScalarTile(chunk, n, weight, i0, rows, j0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void VectorTile(double[] chunk, int n, double weight, int i0, int j0)
    {
        Vector256<double> a0 = default, a1 = default, b0 = default, b1 = default, c0 = default, c1 = default, d0 = default, d1 = default;
        fixed (double* x = chunk)
        {
            double* row = x;
            for (int r = 0; r < n; r++, row += _stride)
            {
                var lo = Vector256.Load(row + j0);
                var hi = Vector256.Load(row + j0 + 4);
                var s = Vector256.Create(row[i0]);
                a0 = Vector256.FusedMultiplyAdd(s, lo, a0);
                a1 = Vector256.FusedMultiplyAdd(s, hi, a1);
                s = Vector256.Create(row[i0 + 1]);
                b0 = Vector256.FusedMultiplyAdd(s, lo, b0);
                b1 = Vector256.FusedMultiplyAdd(s, hi, b1);
                s = Vector256.Create(row[i0 + 2]);
                c0 = Vector256.FusedMultiplyAdd(s, lo, c0);
                c1 = Vector256.FusedMultiplyAdd(s, hi, c1);
                s = Vector256.Create(row[i0 + 3]);
                d0 = Vector256.FusedMultiplyAdd(s, lo, d0);
                d1 = Vector256.FusedMultiplyAdd(s, hi, d1);
            }
        }
        var w = Vector256.Create(weight);
        fixed (double* h = _h)
        {
            double* p = h + (long)i0 * _stride + j0;
            Accumulate(p, w, a0, a1);
            Accumulate(p + _stride, w, b0, b1);
            Accumulate(p + 2L * _stride, w, c0, c1);
            Accumulate(p + 3L * _stride, w, d0, d1);
        }
    }

    private static unsafe void Accumulate(double* p, Vector256<double> w, Vector256<double> lo, Vector256<double> hi)
    {
        Vector256.FusedMultiplyAdd(w, lo, Vector256.Load(p)).Store(p);
        Vector256.FusedMultiplyAdd(w, hi, Vector256.Load(p + 4)).Store(p + 4);
    }

    private void ScalarTile(double[] chunk, int n, double weight, int i0, int rows, int j0)
    {
        for (int i = i0; i < i0 + rows; i++)
            for (int j = j0; j < j0 + TileColumns; j++)
            {
                double s = 0;
                for (int r = 0; r < n; r++) s += chunk[r * _stride + i] * chunk[r * _stride + j];
                _h[(long)i * _stride + j] += weight * s;
            }
    }
}
