using System.Diagnostics;

namespace Mx.Bench.Decode;

/// <summary>
/// The memory yardstick of <c>mx bench decode</c>: a copy of a buffer far larger than the caches, split across the
/// same number of threads the sessions use. GB/s = bytes copied (each byte read once and written once) / time, the
/// convention of <c>mx bench gemm</c>'s copy figure.
/// </summary>
public static class MemoryBandwidth
{
    /// <summary>Median GB/s (10⁹ bytes) of <paramref name="repeat"/> copies of <paramref name="bytes"/> bytes with <paramref name="threads"/> threads.</summary>
    public static double Copy(int threads, long bytes = 512L << 20, int repeat = 7)
    {
        var src = GC.AllocateUninitializedArray<byte>(checked((int)bytes));
        var dst = GC.AllocateUninitializedArray<byte>(src.Length);
        new Random(1).NextBytes(src);
        int parts = threads;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        void Once() => Parallel.For(0, parts, options, p =>
        {
            long start = bytes * p / parts, end = bytes * (p + 1) / parts;
            src.AsSpan((int)start, (int)(end - start)).CopyTo(dst.AsSpan((int)start));
        });
        Once();   // warm-up: the pages get mapped
        var times = new double[repeat];
        for (int i = 0; i < repeat; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Once();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(times);
        return bytes / times[repeat / 2] / 1e9;
    }
}
