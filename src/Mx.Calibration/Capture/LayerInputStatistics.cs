using Mx.Calibration.Linear;
using Mx.Calibration.Statistics;
using Mx.Runtime;

namespace Mx.Calibration.Capture;

/// <summary>
/// What the capture pass keeps of one layer input (<see cref="LayerInput"/>): per group the float64 Gram matrix
/// H = Σ xᵀx of its rows, a bounded uniform reservoir of rows, the per-column amax of the rows used, and, for a
/// lookup, how often each table row was read. Rows of padded positions (mask 0) are left out; a sample with more rows
/// than <see cref="CaptureOptions.MaxRowsPerSample"/> contributes a seeded subset whose rows weigh (available)/(kept).
/// Held-out samples (<see cref="CaptureOptions.HoldOutEvery"/>) go to a second H and reservoir.
/// </summary>
public sealed class LayerInputStatistics
{
    private readonly CaptureOptions _options;
    private readonly ulong _keyHash;
    private GramAccumulator[]? _hessians;
    private GramAccumulator[]? _heldOut;
    private string[]? _spilled;
    private string[]? _spilledHeldOut;

    /// <summary>Empty statistics of <paramref name="input"/>.</summary>
    public LayerInputStatistics(LayerInput input, CaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(options);
        Input = input;
        _options = options;
        _keyHash = StableHash.Of(input.Key);
        if (input.Kind == LayerInputKind.Lookup)
        {
            Counts = new double[input.K];
            return;
        }
        Reservoir = new RowReservoir(options.ReservoirRows, input.Width, (int)(_keyHash ^ (ulong)options.Seed));
        ChannelAmax = new float[input.Width];
        if (options.HoldOutEvery > 0)
            HeldOutReservoir = new RowReservoir(options.ReservoirRows, input.Width, (int)(_keyHash ^ (ulong)options.Seed ^ 0x5bd1e995));
    }

    // The Gram matrices are made when the first rows arrive, so statistics waiting for a later chunk hold no memory.
    private GramAccumulator[] Grams(bool heldOut)
    {
        if (heldOut) return _heldOut ??= Enumerable.Range(0, Input.Groups).Select(_ => new GramAccumulator(Input.K)).ToArray();
        return _hessians ??= Enumerable.Range(0, Input.Groups).Select(_ => new GramAccumulator(Input.K)).ToArray();
    }

    /// <summary>The layer input.</summary>
    public LayerInput Input { get; }

    /// <summary>A uniform sample of the calibration rows used (null for a lookup).</summary>
    public RowReservoir? Reservoir { get; }

    /// <summary>The same for held-out samples (null when nothing is held out).</summary>
    public RowReservoir? HeldOutReservoir { get; }

    /// <summary>Max |value| of each row column over the calibration rows used (null for a lookup).</summary>
    public float[]? ChannelAmax { get; }

    /// <summary>For a lookup: the number of times each table row was read (padded positions excluded).</summary>
    public double[]? Counts { get; }

    /// <summary>Calibration rows H stands for (Σ of the row weights; for a lookup, the lookups counted).</summary>
    public double RowsRepresented { get; private set; }

    /// <summary>Held-out rows the held-out H stands for.</summary>
    public double HeldOutRowsRepresented { get; private set; }

    /// <summary>Rows that entered H (calibration and held out).</summary>
    public long RowsUsed { get; private set; }

    /// <summary>Samples added (calibration and held out).</summary>
    public int Samples { get; private set; }

    /// <summary>Whether the Gram matrices are on disk.</summary>
    public bool IsSpilled => _spilled != null;

    /// <summary>Bytes held in memory.</summary>
    public long Bytes => EstimateBytes(Input, _options) - (IsSpilled || _hessians is null ? GramBytes(Input, _options) : 0);

    /// <summary>The bytes the statistics of <paramref name="input"/> take in memory.</summary>
    public static long EstimateBytes(LayerInput input, CaptureOptions options)
    {
        if (input.Kind == LayerInputKind.Lookup) return (long)input.K * sizeof(double);
        int copies = options.HoldOutEvery > 0 ? 2 : 1;
        return GramBytes(input, options) + copies * (long)options.ReservoirRows * input.Width * sizeof(float) + (long)input.Width * sizeof(float);
    }

    private static long GramBytes(LayerInput input, CaptureOptions options)
    {
        if (input.Kind == LayerInputKind.Lookup) return 0;
        long stride = (input.K + 7) / 8 * 8;
        return (options.HoldOutEvery > 0 ? 2 : 1) * input.Groups * stride * stride * sizeof(double);
    }

    /// <summary>Whether sample <paramref name="index"/> is held out under <paramref name="options"/>.</summary>
    public static bool IsHeldOut(int index, CaptureOptions options) => options.HoldOutEvery > 0 && index % options.HoldOutEvery == options.HoldOutEvery - 1;

    /// <summary>
    /// Adds the value the layer read for one sample. <paramref name="mask"/> (null: none) gives per row of the value
    /// whether it is a real position; it applies when its length equals the number of rows.
    /// </summary>
    /// <exception cref="ArgumentException">The value's shape does not fit the layer; the message names it.</exception>
    public void Add(HostTensor value, bool[]? mask, int sampleIndex)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (IsSpilled) throw new InvalidOperationException($"layer input '{Input.Activation}': statistics were spilled; no more rows can be added");
        bool heldOut = IsHeldOut(sampleIndex, _options);
        Samples++;
        if (Input.Kind == LayerInputKind.Lookup)
        {
            AddLookups(value, mask, heldOut);
            return;
        }
        var rows = LayerRows.Of(Input, value);
        var available = new List<long>((int)Math.Min(rows.Count, int.MaxValue));
        for (long r = 0; r < rows.Count; r++)
            if (mask is null || mask.Length != rows.Count || mask[r]) available.Add(r);
        if (available.Count == 0) return;
        var rng = new Random((int)(_keyHash ^ (ulong)_options.Seed ^ (ulong)sampleIndex * 0x9E3779B97F4A7C15UL));
        var chosen = RowSubset.Choose(available, _options.MaxRowsPerSample, rng);
        double weight = available.Count / (double)chosen.Length;
        int width = Input.Width;
        var buffer = new float[(long)chosen.Length * width];
        for (int i = 0; i < chosen.Length; i++) rows.Write(chosen[i], buffer.AsSpan(i * width, width));
        var hessians = Grams(heldOut);
        var reservoir = heldOut ? HeldOutReservoir! : Reservoir!;
        if (Input.Groups == 1)
        {
            hessians[0].Add(buffer, chosen.Length, weight);
        }
        else
        {
            var part = new float[(long)chosen.Length * Input.K];
            for (int g = 0; g < Input.Groups; g++)
            {
                for (int i = 0; i < chosen.Length; i++) buffer.AsSpan(i * width + g * Input.K, Input.K).CopyTo(part.AsSpan(i * Input.K));
                hessians[g].Add(part, chosen.Length, weight);
            }
        }
        for (int i = 0; i < chosen.Length; i++)
        {
            var row = buffer.AsSpan(i * width, width);
            reservoir.Offer(row);
            if (!heldOut)
                for (int k = 0; k < width; k++)
                {
                    float a = Math.Abs(row[k]);
                    if (a > ChannelAmax![k]) ChannelAmax[k] = a;
                }
        }
        RowsUsed += chosen.Length;
        if (heldOut) HeldOutRowsRepresented += available.Count;
        else RowsRepresented += available.Count;
    }

    private void AddLookups(HostTensor indices, bool[]? mask, bool heldOut)
    {
        long[] ids = indices.ElementType switch
        {
            TensorElementType.Int64 => indices.AsSpan<long>().ToArray(),
            TensorElementType.Int32 => indices.AsSpan<int>().ToArray().Select(i => (long)i).ToArray(),
            _ => throw new ArgumentException($"Gather indices '{Input.Activation}' are {indices.ElementType}, not int64 or int32"),
        };
        if (heldOut) return;
        for (int i = 0; i < ids.Length; i++)
        {
            if (mask != null && mask.Length == ids.Length && !mask[i]) continue;
            long id = ids[i] < 0 ? ids[i] + Input.K : ids[i];
            if (id < 0 || id >= Input.K) throw new ArgumentException($"Gather index {ids[i]} in '{Input.Activation}' is outside a table of {Input.K} rows");
            Counts![id]++;
            RowsRepresented++;
        }
        RowsUsed += ids.Length;
    }

    /// <summary>H of group <paramref name="group"/> (full symmetric K × K, float64), of the calibration rows or of the held-out rows.</summary>
    /// <exception cref="InvalidOperationException">A lookup has no H, or nothing was held out.</exception>
    public double[] Hessian(int group = 0, bool heldOut = false)
    {
        if (Input.Kind == LayerInputKind.Lookup) throw new InvalidOperationException($"'{Input.Activation}' is a lookup; it has no H");
        if (heldOut && _options.HoldOutEvery == 0) throw new InvalidOperationException("no samples were held out");
        if (_spilled != null) return SpillFile.ReadDoubles((heldOut ? _spilledHeldOut! : _spilled)[group]);
        return Grams(heldOut)[group].ToFull();
    }

    /// <summary>Drops the Gram matrices (in memory and on disk); H can no longer be read or rows added.</summary>
    public void ReleaseHessians()
    {
        _hessians = null;
        _heldOut = null;
        _spilled = [];
        _spilledHeldOut = [];
    }

    /// <summary>Writes the Gram matrices to files in <paramref name="folder"/> and releases their memory (rows can no longer be added).</summary>
    public void Spill(string folder)
    {
        if (Input.Kind == LayerInputKind.Lookup || IsSpilled) return;
        var grams = Grams(false);
        string stem = Path.Combine(folder, $"h{_keyHash:x16}");
        _spilled = grams.Select((h, g) => SpillFile.WriteGram($"{stem}.{g}.f64", h)).ToArray();
        if (_options.HoldOutEvery > 0) _spilledHeldOut = Grams(true).Select((h, g) => SpillFile.WriteGram($"{stem}.{g}.heldout.f64", h)).ToArray();
        _hessians = null;
        _heldOut = null;
    }
}
