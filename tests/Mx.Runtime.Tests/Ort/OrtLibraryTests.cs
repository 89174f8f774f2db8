using Mx.Runtime.Ort;

namespace Mx.Runtime.Tests.Ort;

public class OrtLibraryTests
{
    [Test]
    public void OverrideIsTheOnlyCandidate() =>
        Assert.That(OrtLibrary.Candidates("/opt/x/libonnxruntime.so", "/a", "/b"), Is.EqualTo(new[] { "/opt/x/libonnxruntime.so" }));

    [Test]
    public void DefaultCandidatesAreAssemblyDirBaseDirThenSystem()
    {
        var c = OrtLibrary.Candidates(null, "/a", "/b/");
        Assert.That(c, Is.EqualTo(new[] { "/a/libonnxruntime.so.1", "/b/libonnxruntime.so.1", "libonnxruntime.so.1" }));
        Assert.That(OrtLibrary.Candidates("", "/a", "/a"), Is.EqualTo(new[] { "/a/libonnxruntime.so.1", "libonnxruntime.so.1" }));
    }

    [Test]
    public void BogusFilesGiveAnErrorListingEveryPathAndWhy()
    {
        string bogus = Path.Combine(Path.GetTempPath(), $"mx-bogus-{Guid.NewGuid():N}.so");
        File.WriteAllText(bogus, "this is not a shared library");
        string absent = Path.Combine(Path.GetTempPath(), $"mx-absent-{Guid.NewGuid():N}.so");
        try
        {
            var e = Assert.Throws<OrtLibraryException>(() => OrtLibrary.LoadFirst([bogus, absent], out _));
            Assert.That(e!.Message, Does.Contain(bogus).And.Contain(absent).And.Contain("file not found").And.Contain(OrtLibrary.OverrideVariable));
            // The bogus file's reason is the loader's, not ours.
            string bogusPart = e.Message.Split("; ").Single(p => p.Contains(bogus));
            Assert.That(bogusPart.Length, Is.GreaterThan(bogus.Length + 2));
        }
        finally
        {
            File.Delete(bogus);
        }
    }

    [Test]
    public void VersionMessageNamesBothVersions()
    {
        string m = OrtLibrary.VersionTooOld("1.16.3", 30);
        Assert.That(m, Does.Contain("1.16.3").And.Contain("30"));
    }

    [Test]
    public void LoadedRuntimeIsTheExpectedVersion() =>
        Assert.That(OrtLibrary.RuntimeVersion, Does.StartWith("1."));

    [Test]
    public void ElementTypesConvertAcrossTheEnumTrap()
    {
        foreach (TensorElementType t in Enum.GetValues<TensorElementType>())
            Assert.That(OrtElementTypes.FromOrt(OrtElementTypes.ToOrt(t)), Is.EqualTo(t));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Float8E8M0), Is.EqualTo(26));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.UInt2), Is.EqualTo(24));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Int2), Is.EqualTo(25));
        Assert.That(OrtElementTypes.ToOrt(TensorElementType.Float4E2M1), Is.EqualTo(23));
        Assert.Throws<ArgumentOutOfRangeException>(() => OrtElementTypes.FromOrt(27));
    }
}
