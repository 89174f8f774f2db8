namespace Mx.Runtime.Tests.Ort;

/// <summary>Runs a body on several dedicated threads at the same time, for the concurrent-Run tests.</summary>
internal static class ConcurrentThreads
{
    /// <summary>Runs <paramref name="body"/>(t) for t in [0, <paramref name="count"/>) on new threads, waits for all, and returns the first exception thrown (null when none).</summary>
    public static Exception? Run(int count, Action<int> body)
    {
        Exception? error = null;
        var threads = Enumerable.Range(0, count).Select(t => new Thread(() =>
        {
            try
            {
                body(t);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref error, e, null);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return error;
    }
}
