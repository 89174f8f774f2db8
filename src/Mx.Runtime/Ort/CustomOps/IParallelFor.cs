namespace Mx.Runtime.Ort;

/// <summary>
/// Runs a loop body for every index in [0, count) on some set of threads and returns when all are done. The body is
/// called once per index, in no particular order, possibly concurrently. If a body throws, remaining indices may be
/// skipped and the first exception is rethrown to the caller. Kernels take this interface so they run the same on
/// ORT's intra-op threads (<see cref="KernelContext"/>) and elsewhere (<see cref="SerialFor"/>).
/// </summary>
public interface IParallelFor
{
    /// <summary>Calls <paramref name="body"/> for each index in [0, <paramref name="count"/>).</summary>
    void For(int count, Action<int> body);
}

/// <summary>An <see cref="IParallelFor"/> that runs every index in order on the calling thread.</summary>
public sealed class SerialFor : IParallelFor
{
    /// <summary>The one instance.</summary>
    public static SerialFor Instance { get; } = new();

    /// <inheritdoc/>
    public void For(int count, Action<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        for (int i = 0; i < count; i++) body(i);
    }
}
