using System.Security.Cryptography;
using System.Text;

namespace Mx.Calibration.Recipes;

/// <summary>
/// Identifies what a recipe was made from: SHA-256 over the model file's bytes, the name and length of each file in
/// its folder the model's external data could live in (the data files are not read: a changed weight file of the same
/// length is not noticed), and a text of the calibration options. A recipe is reused only when its fingerprint equals
/// the current one.
/// </summary>
public static class RecipeFingerprint
{
    /// <summary>The fingerprint of <paramref name="modelPath"/> with external data files <paramref name="dataFiles"/> and options <paramref name="options"/>.</summary>
    public static string Of(string modelPath, IEnumerable<string> dataFiles, string options)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(dataFiles);
        ArgumentNullException.ThrowIfNull(options);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var f = File.OpenRead(modelPath))
        {
            var buffer = new byte[1 << 20];
            int n;
            while ((n = f.Read(buffer)) > 0) sha.AppendData(buffer, 0, n);
        }
        foreach (string file in dataFiles.Order(StringComparer.Ordinal))
            sha.AppendData(Encoding.UTF8.GetBytes($"\n{Path.GetFileName(file)}:{(File.Exists(file) ? new FileInfo(file).Length : -1)}"));
        sha.AppendData(Encoding.UTF8.GetBytes("\n" + options));
        return "sha256:" + Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
