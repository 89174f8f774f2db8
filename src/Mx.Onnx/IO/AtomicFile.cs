namespace Mx.Onnx.IO;

/// <summary>
/// Writes files so that a reader never sees them half-written: the content goes to a temporary file in the same
/// folder (so the final rename stays on one file system and is atomic), which replaces the target only at the end.
/// </summary>
internal static class AtomicFile
{
    /// <summary>A fresh temporary path beside <paramref name="target"/>; the caller owns (and deletes) it.</summary>
    public static string TempPathBeside(string target)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(target))!;
        return Path.Combine(dir, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Moves <paramref name="temp"/> over <paramref name="target"/>, replacing it.</summary>
    public static void Commit(string temp, string target) => File.Move(temp, target, overwrite: true);

    /// <summary>Deletes a temporary file if it is still there; never throws (it runs on error paths).</summary>
    public static void TryDelete(string? temp)
    {
        if (temp is null) return;
        try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
