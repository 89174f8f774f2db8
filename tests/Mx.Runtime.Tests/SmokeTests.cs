namespace Mx.Runtime.Tests;

public class SmokeTests
{
    [Test]
    public void RepositoryRootIsFound() => Assert.That(File.Exists(Path.Combine(Mx.Tests.Common.TestPaths.RepoRoot, "Mx.Onnx.sln")), Is.True);
}
