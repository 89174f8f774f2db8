namespace Mx.Runtime.Kernels;

/// <summary>
/// The parallel-for the kernels run on. Kernels split their work into <c>count</c> independent items and call
/// the body once per index; items never write the same output. An ONNX Runtime adapter (intra-op
/// thread pool, one callback per index) implements this interface as well.
/// </summary>
public interface IParallelRunner
{
    /// <summary>How many items may run at once; kernels use it to size their work split.</summary>
    int DegreeOfParallelism { get; }

    /// <summary>Runs <paramref name="body"/>(i) for every i in [0, count) and returns when all have finished.</summary>
    void For(int count, Action<int> body);
}

/// <summary>Runs every item on the calling thread, in index order.</summary>
public sealed class SerialRunner : IParallelRunner
{
    /// <summary>The shared instance (stateless).</summary>
    public static SerialRunner Instance { get; } = new();

    /// <inheritdoc/>
    public int DegreeOfParallelism => 1;

    /// <inheritdoc/>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        for (int i = 0; i < count; i++) body(i);
    }
}

/// <summary>Runs items on the .NET thread pool (the calling thread takes part), at most <see cref="DegreeOfParallelism"/> at once.</summary>
public sealed class ThreadPoolRunner : IParallelRunner
{
    private readonly ParallelOptions _options;

    /// <summary>A runner using up to <paramref name="degreeOfParallelism"/> threads (default: one per logical processor).</summary>
    public ThreadPoolRunner(int degreeOfParallelism = 0)
    {
        if (degreeOfParallelism < 0) throw new ArgumentOutOfRangeException(nameof(degreeOfParallelism), "must be ≥ 0 (0 = one per logical processor)");
        DegreeOfParallelism = degreeOfParallelism == 0 ? Environment.ProcessorCount : degreeOfParallelism;
        _options = new ParallelOptions { MaxDegreeOfParallelism = DegreeOfParallelism };
    }

    /// <summary>A shared runner with one thread per logical processor.</summary>
    public static ThreadPoolRunner Default { get; } = new();

    /// <inheritdoc/>
    public int DegreeOfParallelism { get; }

    /// <inheritdoc/>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 1 || DegreeOfParallelism == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, _options, body);
    }
}
