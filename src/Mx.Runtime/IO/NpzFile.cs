using System.IO.Compression;

namespace Mx.Runtime.IO;

/// <summary>
/// Reads and writes NumPy <c>.npz</c> archives: a zip of <c>NAME.npy</c> members, stored or deflated, each read as by
/// <see cref="NpyFile"/>. Errors name the archive and the member.
/// </summary>
public static class NpzFile
{
    /// <summary>Reads every <c>.npy</c> member of the archive at <paramref name="path"/>, keyed by name without <c>.npy</c>, in archive order.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="NpyFormatException">Not a zip archive, or a member is not a readable .npy image.</exception>
    public static IReadOnlyDictionary<string, HostTensor> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new NpyFormatException($"{path}: not a .npz (zip) archive: {e.Message}", e);
        }
        using (zip)
        {
            var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/')) continue;
                string where = $"{path}, member {entry.FullName}";
                string key = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                try
                {
                    using var s = entry.Open();
                    result[key] = NpyFile.Read(s, where);
                }
                catch (InvalidDataException e)
                {
                    throw new NpyFormatException($"{where}: corrupt member: {e.Message}", e);
                }
            }
            return result;
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> as <c>NAME.npy</c> members, deflated when <paramref name="compress"/> (like
    /// <c>np.savez_compressed</c>) and stored otherwise (like <c>np.savez</c>). Atomic, as <see cref="NpyFile.Write(string, HostTensor)"/>.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, HostTensor>> tensors, bool compress = false)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = tensors.ToList();
        foreach (var (name, _) in items)
            if (string.IsNullOrEmpty(name)) throw new ArgumentException($"{path}: a member name is empty", nameof(tensors));
        var dup = items.GroupBy(i => i.Key, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup != null) throw new ArgumentException($"{path}: member name '{dup.Key}' appears twice", nameof(tensors));
        AtomicFile.Write(path, s =>
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (name, tensor) in items)
            {
                var entry = zip.CreateEntry(name + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var es = entry.Open();
                NpyFile.Write(es, tensor, $"{path}, member {name}.npy");
            }
        });
    }
}
