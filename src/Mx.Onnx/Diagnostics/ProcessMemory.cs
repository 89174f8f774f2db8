using System.Globalization;

namespace Mx.Onnx.Diagnostics;

/// <summary>This process's memory as Linux reports it in <c>/proc/self/status</c> (the RSS figures of benchmarks and calibration reports).</summary>
public static class ProcessMemory
{
    private const string Status = "/proc/self/status";

    /// <summary>Resident set size now (VmRSS), in bytes; −1 where /proc is unavailable.</summary>
    public static long ResidentBytes() => Field("VmRSS");

    /// <summary>The anonymous part of <see cref="ResidentBytes"/> (RssAnon: heaps, arenas), in bytes; −1 where /proc is unavailable.</summary>
    public static long AnonymousResidentBytes() => Field("RssAnon");

    /// <summary>The file-backed part of <see cref="ResidentBytes"/> (RssFile: mapped files such as model weights), in bytes; −1 where /proc is unavailable.</summary>
    public static long FileResidentBytes() => Field("RssFile");

    /// <summary>
    /// Returns the C heap's free memory to the OS (glibc <c>malloc_trim(0)</c>), so that memory a disposed native
    /// object freed does not stay counted in the resident set; false where there is no glibc.
    /// </summary>
    public static bool TrimNativeHeap()
    {
        try
        {
            malloc_trim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);

    /// <summary>Peak resident set size so far (VmHWM), in bytes; −1 where /proc is unavailable.</summary>
    public static long PeakResidentBytes() => Field("VmHWM");

    /// <summary>
    /// Resets the peak (VmHWM) to the current resident set, so a later <see cref="PeakResidentBytes"/> measures one
    /// stage alone (Linux: writing 5 to <c>/proc/self/clear_refs</c>). Returns false where that is not possible.
    /// </summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    private static long Field(string name)
    {
        if (!File.Exists(Status)) return -1;
        foreach (string line in File.ReadLines(Status))
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
                return long.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;   // the file gives kB
        return -1;
    }
}
