namespace Mx.Calibration.Ocs;

/// <summary>
/// A 2-D weight seen by its reduction channels: <c>K</c> channels of <c>N</c> values. MatMul B [K, N] and Gemm B with
/// transB = 0 hold channels as rows; Gemm B with transB = 1 ([N, K]) holds them as columns.
/// </summary>
/// <param name="K">Reduction channels.</param>
/// <param name="N">Values per channel.</param>
/// <param name="ChannelsAreRows">Whether channel k is row k (else column k).</param>
public readonly record struct WeightView(int K, int N, bool ChannelsAreRows)
{
    /// <summary>Flat index of value <paramref name="n"/> of channel <paramref name="k"/>.</summary>
    public int Index(int k, int n) => ChannelsAreRows ? k * N + n : n * K + k;

    /// <summary>The tensor shape.</summary>
    public long[] Shape => ChannelsAreRows ? [K, N] : [N, K];

    /// <summary>The same view with <paramref name="k"/> channels.</summary>
    public WeightView WithK(int k) => this with { K = k };

    /// <summary>The max |value| of every channel.</summary>
    public float[] ChannelAmax(ReadOnlySpan<float> w)
    {
        var amax = new float[K];
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                amax[k] = Math.Max(amax[k], Math.Abs(w[Index(k, n)]));
        return amax;
    }

    /// <summary>The weight after <paramref name="map"/>: channel j = original channel Sources[j] × Factors[j].</summary>
    public float[] Apply(ReadOnlySpan<float> w, ChannelMap map)
    {
        var to = WithK(map.Count);
        var result = new float[(long)map.Count * N];
        for (int j = 0; j < map.Count; j++)
            for (int n = 0; n < N; n++)
                result[to.Index(j, n)] = w[Index(map.Sources[j], n)] * map.Factors[j];
        return result;
    }

    /// <summary>The effective original-space weight of a mapped one: the sum of each channel's pieces.</summary>
    public float[] Fold(ReadOnlySpan<float> mapped, ChannelMap map)
    {
        var from = WithK(map.Count);
        var result = new float[(long)K * N];
        for (int j = 0; j < map.Count; j++)
            for (int n = 0; n < N; n++)
                result[Index(map.Sources[j], n)] += mapped[from.Index(j, n)];
        return result;
    }
}
