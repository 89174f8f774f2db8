using System.Globalization;

namespace Mx.Bench;

/// <summary>This process's memory as Linux reports it in <c>/proc/self/status</c> (the benchmarks' RSS figures).</summary>
public static class ProcessMemory
{
    private const string Status = "/proc/self/status";

    /// <summary>Resident set size now (VmRSS), in bytes; −1 where /proc is unavailable.</summary>
    public static long ResidentBytes() => Field("VmRSS");

    /// <summary>Peak resident set size so far (VmHWM), in bytes; −1 where /proc is unavailable.</summary>
    public static long PeakResidentBytes() => Field("VmHWM");

    private static long Field(string name)
    {
        if (!File.Exists(Status)) return -1;
        foreach (string line in File.ReadLines(Status))
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
                return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;   // the file gives kB
        return -1;
    }
}
