namespace Mx.Onnx.ExternalData;

/// <summary>
/// Resolves every symbolic link in a path (of the folders along it as well as of the last component), the way the
/// operating system would when opening it, so containment checks see where a path really leads.
/// </summary>
internal static class RealPath
{
    private const int MaxLinkHops = 40;

    /// <summary>The path with all links resolved; components that do not exist are kept as written.</summary>
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        string current = Path.GetPathRoot(full)!;
        var pending = new Stack<string>(Components(full[current.Length..]).Reverse());
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = Path.Combine(current, part);
            string? target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops) throw new IOException($"too many levels of symbolic links resolving {path}");
            if (Path.IsPathRooted(target)) current = Path.GetPathRoot(target)!;
            string relative = Path.IsPathRooted(target) ? target[Path.GetPathRoot(target)!.Length..] : target;
            foreach (string p in Components(relative).Reverse()) pending.Push(p);
        }
        return current;
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies inside it (both already full paths).</summary>
    public static bool IsInside(string path, string folder)
    {
        string f = Path.TrimEndingDirectorySeparator(folder);
        var cmp = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return path.StartsWith(f + Path.DirectorySeparatorChar, cmp);
    }

    private static IEnumerable<string> Components(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
