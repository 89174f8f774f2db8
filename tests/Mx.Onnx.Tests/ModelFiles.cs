using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

/// <summary>The models every round-trip test runs over: ../shared/models/*/model.onnx and testmodels/**.onnx.</summary>
public static class ModelFiles
{
    /// <summary>Shared model folder names (read from disk; empty when ../shared is absent, the tests then do not run).</summary>
    public static IEnumerable<TestCaseData> All()
    {
        string? shared = TestPaths.SharedDir;
        if (shared != null)
            foreach (string dir in Directory.GetDirectories(Path.Combine(shared, "models")).Order(StringComparer.Ordinal))
                if (File.Exists(Path.Combine(dir, "model.onnx")))
                    yield return new TestCaseData(Path.Combine(dir, "model.onnx")).SetArgDisplayNames("shared/" + Path.GetFileName(dir));
        foreach (var c in Generated()) yield return c;
    }

    /// <summary>The committed models of testmodels/.</summary>
    public static IEnumerable<TestCaseData> Generated()
    {
        string testModels = Path.Combine(TestPaths.RepoRoot, "testmodels");
        foreach (string f in Directory.GetFiles(testModels, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            yield return new TestCaseData(f).SetArgDisplayNames("testmodels/" + Path.GetRelativePath(testModels, f));
    }
}

/// <summary>A temporary folder deleted at dispose.</summary>
public sealed class TempFolder : IDisposable
{
    /// <summary>Creates the folder.</summary>
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mx-onnx-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    /// <summary>The folder.</summary>
    public string Path { get; }

    /// <summary>A path inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names of the files in the folder, sorted.</summary>
    public string[] Listing() => Directory.GetFiles(Path, "*", SearchOption.AllDirectories)
        .Select(f => System.IO.Path.GetRelativePath(Path, f)).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Deletes the folder.</summary>
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
