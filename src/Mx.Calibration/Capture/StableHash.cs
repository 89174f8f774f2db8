namespace Mx.Calibration.Capture;

/// <summary>
/// A 64-bit FNV-1a hash of a string's UTF-16 code units: the same in every process (string.GetHashCode is randomized
/// per process), so seeds derived from names make runs reproducible.
/// </summary>
public static class StableHash
{
    /// <summary>The hash of <paramref name="text"/>.</summary>
    public static ulong Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ulong h = 14695981039346656037UL;
        foreach (char c in text)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }
}
