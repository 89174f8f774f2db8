namespace Mx.Calibration.Statistics;

/// <summary>
/// Streaming statistics of one tensor seen as rows along its reduction axis (the axis MX blocks run along): per-tensor
/// and per-channel amax, a log2 histogram of magnitudes (percentiles), a log2 histogram of block amax (blocks of
/// <see cref="BlockSize"/> channels along the axis), and a bounded reservoir of rows. Memory is fixed by K, the block
/// size and the reservoir capacity, whatever the number of tensors added.
/// </summary>
public sealed class TensorStatistics
{
    private readonly float[] _channelAmax;

    /// <summary>Statistics of rows of <paramref name="k"/> channels.</summary>
    public TensorStatistics(string name, int k, int blockSize = 32, int reservoirCapacity = 256, int seed = 12345)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        Name = name;
        K = k;
        BlockSize = blockSize;
        _channelAmax = new float[k];
        Reservoir = new RowReservoir(reservoirCapacity, k, seed);
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>Channels along the reduction axis.</summary>
    public int K { get; }

    /// <summary>Channels per block for <see cref="BlockAmax"/>.</summary>
    public int BlockSize { get; }

    /// <summary>Max |value| over everything added (NaN ignored).</summary>
    public float Amax { get; private set; }

    /// <summary>Max |value| of each channel.</summary>
    public ReadOnlySpan<float> ChannelAmax => _channelAmax;

    /// <summary>Magnitudes of every value.</summary>
    public Log2Histogram Values { get; } = new();

    /// <summary>The amax of every block of <see cref="BlockSize"/> channels of every row (the last block of a row may be short).</summary>
    public Log2Histogram BlockAmax { get; } = new();

    /// <summary>A uniform sample of rows.</summary>
    public RowReservoir Reservoir { get; }

    /// <summary>Rows added.</summary>
    public long Rows { get; private set; }

    /// <summary>Tensors added (samples).</summary>
    public long Tensors { get; private set; }

    /// <summary>Adds a tensor of shape <paramref name="shape"/> whose axis <paramref name="axis"/> (negative counts from the end) has <see cref="K"/> channels.</summary>
    /// <exception cref="ArgumentException">The axis is out of range or its length is not <see cref="K"/>; the message names the tensor.</exception>
    public void Add(ReadOnlySpan<float> data, IReadOnlyList<long> shape, int axis)
    {
        ArgumentNullException.ThrowIfNull(shape);
        int rank = shape.Count;
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"tensor '{Name}': axis {axis} is out of range for shape [{string.Join(", ", shape)}]");
        if (shape[a] != K) throw new ArgumentException($"tensor '{Name}': axis {axis} of shape [{string.Join(", ", shape)}] has {shape[a]} channels, not {K}");
        long outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= shape[i];
        for (int i = a + 1; i < rank; i++) inner *= shape[i];
        if (outer * K * inner != data.Length) throw new ArgumentException($"tensor '{Name}': {data.Length} values for shape [{string.Join(", ", shape)}]");
        Tensors++;
        var row = new float[K];
        for (long o = 0; o < outer; o++)
            for (long i = 0; i < inner; i++)
            {
                long baseIndex = o * K * inner + i;
                for (int k = 0; k < K; k++) row[k] = data[(int)(baseIndex + k * inner)];
                AddRow(row);
            }
    }

    private void AddRow(float[] row)
    {
        Rows++;
        float blockMax = 0;
        for (int k = 0; k < K; k++)
        {
            float v = Math.Abs(row[k]);
            Values.Add(v);
            if (!float.IsNaN(v))
            {
                if (v > _channelAmax[k]) _channelAmax[k] = v;
                if (v > blockMax) blockMax = v;
            }
            if ((k + 1) % BlockSize == 0 || k == K - 1)
            {
                BlockAmax.Add(blockMax);
                if (blockMax > Amax) Amax = blockMax;
                blockMax = 0;
            }
        }
        Reservoir.Offer(row);
    }

    /// <summary>The median of the per-channel amax.</summary>
    public float MedianChannelAmax()
    {
        var sorted = _channelAmax.ToArray();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    /// <summary>Channels whose amax is at least <paramref name="factor"/> × the median channel amax (none when the median is 0).</summary>
    public IReadOnlyList<int> OutlierChannels(float factor)
    {
        float median = MedianChannelAmax();
        if (median <= 0) return [];
        var result = new List<int>();
        for (int k = 0; k < K; k++)
            if (_channelAmax[k] >= factor * median) result.Add(k);
        return result;
    }
}
