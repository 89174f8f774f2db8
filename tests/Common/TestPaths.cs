namespace Mx.Tests.Common;

/// <summary>Locates the repository and the ../shared folder (models, conformance data) from a test's output folder.</summary>
public static class TestPaths
{
    /// <summary>The repository root: the nearest ancestor of the test assembly's folder that holds Mx.Onnx.sln.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared beside the repository, or null when it is absent.</summary>
    public static string? SharedDir
    {
        get
        {
            string dir = Environment.GetEnvironmentVariable("MX_SHARED_DIR") ?? Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(dir) ? dir : null;
        }
    }

    /// <summary>A path under ../shared; the test is ignored, with the reason shown, when it does not exist.</summary>
    public static string Shared(params string[] parts)
    {
        string? shared = SharedDir;
        if (shared is null)
            Assert.Ignore($"../shared is not beside the repository ({Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"))} missing); shared models and conformance data are unavailable.");
        string path = Path.Combine([shared!, .. parts]);
        if (!File.Exists(path) && !Directory.Exists(path))
            Assert.Ignore($"shared test data missing: {path}");
        return path;
    }

    /// <summary>A path under testmodels/ in the repository.</summary>
    public static string TestModel(string name) => Path.Combine(RepoRoot, "testmodels", name);

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Mx.Onnx.sln")))
                return d.FullName;
        throw new InvalidOperationException($"cannot find Mx.Onnx.sln above {AppContext.BaseDirectory}");
    }
}
