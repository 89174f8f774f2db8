using System.Diagnostics;

namespace Mx.Bench.Decode;

/// <summary>
/// The memory yardsticks of <c>mx bench decode</c>, over buffers far larger than the caches, split across the same
/// number of threads the sessions use; medians of repeated passes, GB/s = 10⁹ bytes per second.
/// </summary>
public static class MemoryBandwidth
{
    private const long Bytes = 512L << 20;
    private const int Repeat = 7;

    /// <summary>
    /// A copy: GB/s = bytes copied / time (each byte read once and written once), the convention of
    /// <c>mx bench gemm</c>'s copy figure and the issue's <c>weight_bandwidth_fraction</c>.
    /// </summary>
    public static double Copy(int threads)
    {
        var src = Filled();
        var dst = GC.AllocateUninitializedArray<byte>(src.Length);
        return Measure(threads, (start, length) => src.AsSpan(start, length).CopyTo(dst.AsSpan(start)));
    }

    /// <summary>
    /// A read (a vectorized sum of every 8-byte word): GB/s = bytes read / time. A decode step only reads its weights,
    /// so this is the closer bound for it; on a copy's figure a read-only kernel can exceed 1.
    /// </summary>
    public static double Read(int threads)
    {
        var src = Filled();
        long sink = 0;
        double gbps = Measure(threads, (start, length) =>
        {
            var words = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(src.AsSpan(start, length));
            var acc = System.Numerics.Vector<ulong>.Zero;
            int n = System.Numerics.Vector<ulong>.Count, i = 0;
            for (; i + n <= words.Length; i += n) acc += new System.Numerics.Vector<ulong>(words.Slice(i, n));
            Interlocked.Add(ref sink, (long)System.Numerics.Vector.Sum(acc));
        });
        GC.KeepAlive(sink);
        return gbps;
    }

    private static byte[] Filled()
    {
        var b = GC.AllocateUninitializedArray<byte>((int)Bytes);
        new Random(1).NextBytes(b);
        return b;
    }

    // Median of Repeat passes, each splitting the buffer into one part per thread; a first pass maps the pages.
    private static double Measure(int threads, Action<int, int> part)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        void Once() => Parallel.For(0, threads, options, p =>
        {
            long start = Bytes * p / threads, end = Bytes * (p + 1) / threads;
            part((int)start, (int)(end - start));
        });
        Once();
        var times = new double[Repeat];
        for (int i = 0; i < Repeat; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(times);
        return Bytes / times[Repeat / 2] / 1e9;
    }
}
