using System.Runtime.InteropServices;

namespace Mx.Runtime.Interop;

/// <summary>
/// Finds a native library among candidate paths at run time (no build-time dependency): the first candidate that loads
/// and exports a given symbol wins; otherwise the result lists every path tried and why each failed.
/// </summary>
internal static class NativeLibraryProbe
{
    /// <summary>
    /// The candidates: only <paramref name="overridePath"/> when it is set; otherwise each soname as a bare name (the
    /// dynamic loader's search, LD_LIBRARY_PATH included) followed by each soname in each directory.
    /// </summary>
    public static IReadOnlyList<string> Candidates(string? overridePath, IEnumerable<string> sonames, IEnumerable<string?> directories)
    {
        if (!string.IsNullOrWhiteSpace(overridePath)) return [overridePath];
        var names = sonames.ToArray();
        var list = new List<string>(names);
        foreach (string? dir in directories)
        {
            if (string.IsNullOrWhiteSpace(dir)) continue;
            foreach (string name in names)
            {
                string p = Path.GetFullPath(Path.Combine(dir, name));
                if (!list.Contains(p)) list.Add(p);
            }
        }
        return list;
    }

    /// <summary>Tries the candidates in order. On success returns the handle and the path; on failure a reason naming every candidate.</summary>
    public static bool TryLoad(IReadOnlyList<string> candidates, string requiredExport, out nint handle, out string loadedFrom, out string failure)
    {
        var failures = new List<string>();
        foreach (string path in candidates)
        {
            if (path.Contains('/') && !File.Exists(path))
            {
                failures.Add($"{path}: file not found");
                continue;
            }
            nint h;
            try
            {
                h = NativeLibrary.Load(path);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                failures.Add($"{path}: {FirstLine(e.Message)}");
                continue;
            }
            if (NativeLibrary.TryGetExport(h, requiredExport, out _))
            {
                handle = h;
                loadedFrom = path;
                failure = "";
                return true;
            }
            failures.Add($"{path}: loaded, but it does not export {requiredExport}");
            NativeLibrary.Free(h);
        }
        handle = 0;
        loadedFrom = "";
        failure = "tried " + string.Join("; ", failures);
        return false;
    }


    /// <summary>The address of an optional export, or 0.</summary>
    public static nint OptionalExport(nint handle, string name) => NativeLibrary.TryGetExport(handle, name, out nint p) ? p : 0;

    private static string FirstLine(string s)
    {
        // .NET prefixes the loader's message (dlerror) with generic advice on earlier lines; keep the loader's line.
        string one = s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        return one.Length > 300 ? one[..300] + "…" : one;
    }
}
