using System.Diagnostics;
using System.Runtime.InteropServices;
using Mx.Onnx.Tensors;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

public class ExternalDataTests
{
    private static float[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    [Test]
    public void ExternalTensorsAreReadFromTheDataFile()
    {
        using var tmp = new TempFolder();
        var a = Values(100, 1);
        var b = Values(30, 2);
        using (var fs = File.Create(tmp.File("w.bin")))
        {
            fs.Write(MemoryMarshal.AsBytes(a.AsSpan()));
            fs.Position = 1000;
            fs.Write(MemoryMarshal.AsBytes(b.AsSpan()));
        }
        ExternalModel.Write(ExternalModel.With(("a", [10, 10], "w.bin", 0), ("b", [30], "w.bin", 1000)), tmp.File("m.onnx"));
        using var model = OnnxModel.Load(tmp.File("m.onnx"));
        Assert.That(model.ReadFloat32(model.FindInitializer("a")!), Is.EqualTo(a));
        Assert.That(model.ReadFloat32(model.FindInitializer("b")!), Is.EqualTo(b));
    }

    private static string Rejection(TempFolder tmp, string location, long offset = 0, long[]? shape = null)
    {
        ExternalModel.Write(ExternalModel.With(("weight_x", shape ?? [4], location, offset)), tmp.File("m.onnx"));
        var before = tmp.Listing();
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(tmp.File("m.onnx")).Dispose());
        Assert.That(ex!.Message, Does.Contain("weight_x").And.Contain(location).And.Contain("m.onnx"));
        Assert.That(tmp.Listing(), Is.EqualTo(before), "loading must not write anything");
        return ex.Message;
    }

    [Test]
    public void AbsoluteLocationIsRejected()
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("w.bin"), new byte[16]);
        Assert.That(Rejection(tmp, tmp.File("w.bin")), Does.Contain("absolute"));
    }

    [Test]
    public void DotDotEscapeIsRejected()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("model"));
        File.WriteAllBytes(tmp.File("w.bin"), new byte[16]);
        ExternalModel.Write(ExternalModel.With(("weight_x", [4], "../w.bin", 0)), tmp.File("model/m.onnx"));
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(tmp.File("model/m.onnx")).Dispose());
        Assert.That(ex!.Message, Does.Contain("weight_x").And.Contain("../w.bin").And.Contain("outside"));
    }

    [Test]
    public void DotDotThatStaysInsideIsAccepted()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp.File("sub"));
        var a = Values(4, 3);
        File.WriteAllBytes(tmp.File("w.bin"), MemoryMarshal.AsBytes(a.AsSpan()).ToArray());
        ExternalModel.Write(ExternalModel.With(("weight_x", [4], "sub/../w.bin", 0)), tmp.File("m.onnx"));
        using var model = OnnxModel.Load(tmp.File("m.onnx"));
        Assert.That(model.ReadFloat32(model.FindInitializer("weight_x")!), Is.EqualTo(a));
    }

    [Test]
    public void SymbolicLinkLeavingTheFolderIsRejected()
    {
        using var outside = new TempFolder();
        using var tmp = new TempFolder();
        File.WriteAllBytes(outside.File("w.bin"), new byte[16]);
        try { File.CreateSymbolicLink(tmp.File("w.bin"), outside.File("w.bin")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Assert.Ignore($"cannot create symbolic links here: {e.Message}"); }
        Assert.That(Rejection(tmp, "w.bin"), Does.Contain("symbolic link"));
    }

    [Test]
    public void SymbolicLinkedFolderLeavingTheFolderIsRejected()
    {
        using var outside = new TempFolder();
        using var tmp = new TempFolder();
        File.WriteAllBytes(outside.File("w.bin"), new byte[16]);
        try { Directory.CreateSymbolicLink(tmp.File("data"), outside.Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Assert.Ignore($"cannot create symbolic links here: {e.Message}"); }
        Assert.That(Rejection(tmp, "data/w.bin"), Does.Contain("symbolic link"));
    }

    [Test]
    public void OffsetPastTheEndIsRejected()
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("w.bin"), new byte[16]);
        Assert.That(Rejection(tmp, "w.bin", offset: 17), Does.Contain("past the end"));
    }

    [Test]
    public void LengthPastTheEndIsRejected()
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("w.bin"), new byte[16]);
        Assert.That(Rejection(tmp, "w.bin", offset: 8), Does.Contain("past the end"));
    }

    [Test]
    public void TruncatedDataFileIsRejected()
    {
        using var tmp = new TempFolder();
        File.WriteAllBytes(tmp.File("w.bin"), new byte[100]);
        Assert.That(Rejection(tmp, "w.bin", shape: [64]), Does.Contain("truncated"));
    }

    [Test]
    public void MissingDataFileIsRejected()
    {
        using var tmp = new TempFolder();
        Assert.That(Rejection(tmp, "nothing_here.bin"), Does.Contain("does not exist"));
    }

    [Test]
    public void SaveWithThresholdMovesLargeTensorsOutAndBack()
    {
        using var tmp = new TempFolder();
        using var model = OnnxModel.Load(TestPaths.TestModel("transformer_block.onnx"));
        model.Save(tmp.File("ext.onnx"), new OnnxSaveOptions { ExternalDataThreshold = 4096 });
        Assert.That(tmp.Listing(), Is.EqualTo(new[] { "ext.onnx", "ext.onnx.data" }));
        using var ext = OnnxModel.Load(tmp.File("ext.onnx"));
        var external = ModelWalker.AllTensors(ext.Proto).Where(ExternalData.ExternalDataReference.IsExternal).ToList();
        Assert.That(external.Select(t => t.Name), Is.EquivalentTo(model.Proto.Graph.Initializer.Where(t => t.RawData.Length > 4096).Select(t => t.Name)));
        foreach (var t in external)
        {
            var r = ExternalData.ExternalDataReference.Parse(t, "ext.onnx");
            Assert.That(r.Offset % 4096, Is.Zero, $"offset of '{t.Name}'");
        }
        // Back inline: threshold above every tensor gives the original model.
        ext.Save(tmp.File("inline.onnx"), new OnnxSaveOptions { ExternalDataThreshold = long.MaxValue });
        using var inline = OnnxModel.Load(tmp.File("inline.onnx"));
        Assert.That(inline.Proto, Is.EqualTo(model.Proto));
    }

    [Test]
    public void ModelsOverTheProtobufLimitGoExternalAutomatically()
    {
        using var tmp = new TempFolder();
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        long limit = new FileInfo(TestPaths.TestModel("mlp_outliers.onnx")).Length / 2;
        model.Save(tmp.File("m.onnx"), new OnnxSaveOptions { MaxProtobufBytes = limit });
        Assert.That(new FileInfo(tmp.File("m.onnx")).Length, Is.LessThanOrEqualTo(limit));
        using var back = OnnxModel.Load(tmp.File("m.onnx"));
        foreach (var t in model.Proto.Graph.Initializer)
            Assert.That(back.ReadFloat32(back.FindInitializer(t.Name)!), Is.EqualTo(model.ReadFloat32(t)), t.Name);
    }

    [Test]
    public void SavingOverTheSourceKeepsMappedDataIntact()
    {
        using var tmp = new TempFolder();
        File.Copy(TestPaths.TestModel("external_data/model.onnx"), tmp.File("model.onnx"));
        File.Copy(TestPaths.TestModel("external_data/model.onnx.data"), tmp.File("model.onnx.data"));
        using var model = OnnxModel.Load(tmp.File("model.onnx"));
        var expected = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => model.ReadFloat32(t));
        // Reorder the initializers so the new data file differs from the one still mapped.
        var inits = model.Proto.Graph.Initializer.Reverse().ToList();
        model.Proto.Graph.Initializer.Clear();
        model.Proto.Graph.Initializer.AddRange(inits);
        model.Save(tmp.File("model.onnx"));
        foreach (var t in model.Proto.Graph.Initializer)
            Assert.That(model.ReadFloat32(t), Is.EqualTo(expected[t.Name]), $"mapped data of '{t.Name}' changed under the loaded model");
        using var saved = OnnxModel.Load(tmp.File("model.onnx"));
        foreach (var t in saved.Proto.Graph.Initializer)
            Assert.That(saved.ReadFloat32(t), Is.EqualTo(expected[t.Name]), $"saved data of '{t.Name}'");
        Assert.That(tmp.Listing(), Is.EqualTo(new[] { "model.onnx", "model.onnx.data" }), "no temporary files left");
    }

    [Test]
    public void FailedSaveLeavesNothingBehind()
    {
        using var tmp = new TempFolder();
        using var outFolder = new TempFolder();
        File.WriteAllBytes(tmp.File("w.bin"), new byte[16]);
        ExternalModel.Write(ExternalModel.With(("ok", [4], "w.bin", 0), ("bad", [4], "w.bin", 64)), tmp.File("m.onnx"));
        using var model = OnnxModel.Load(tmp.File("m.onnx"), new OnnxLoadOptions { ValidateExternalData = false });
        var ex = Assert.Throws<OnnxFormatException>(() => model.Save(outFolder.File("m.onnx")));
        Assert.That(ex!.Message, Does.Contain("bad"));
        Assert.That(outFolder.Listing(), Is.Empty);
    }

    [Test, CancelAfter(120_000)]
    public void ModelWithMoreThan2GiBOfExternalDataIsSavedExternallyAndMapped()
    {
        using var tmp = new TempFolder();
        const long tensorBytes = 768L << 20; // three of them: 2.25 GiB
        long[] shape = [tensorBytes / 4];
        var sw = Stopwatch.StartNew();
        using (var fs = new FileStream(tmp.File("big.bin"), FileMode.CreateNew))
        {
            fs.SetLength(3 * tensorBytes); // sparse: no I/O for the zeros
            for (int i = 0; i < 3; i++)
            {
                fs.Position = i * tensorBytes + 12345 * 4;
                fs.Write(BitConverter.GetBytes(1.5f + i));
            }
        }
        ExternalModel.Write(ExternalModel.With(("t0", shape, "big.bin", 0), ("t1", shape, "big.bin", tensorBytes), ("t2", shape, "big.bin", 2 * tensorBytes)), tmp.File("src.onnx"));
        using var model = OnnxModel.Load(tmp.File("src.onnx"));
        Assert.That(model.ExternalData.MappedBytes, Is.EqualTo(3 * tensorBytes));
        Assert.Throws<InvalidOperationException>(() => model.ToBytes());
        Directory.CreateDirectory(tmp.File("out"));
        // Ask for everything inline: the size limit must override that.
        model.Save(tmp.File("out/model.onnx"), new OnnxSaveOptions { ExternalDataThreshold = long.MaxValue });
        var saveTime = sw.Elapsed;
        Assert.That(new FileInfo(tmp.File("out/model.onnx")).Length, Is.LessThan(1 << 20));
        Assert.That(new FileInfo(tmp.File("out/model.onnx.data")).Length, Is.GreaterThanOrEqualTo(3 * tensorBytes));
        using var back = OnnxModel.Load(tmp.File("out/model.onnx"));
        for (int i = 0; i < 3; i++)
        {
            var t = back.FindInitializer($"t{i}")!;
            Assert.That(ExternalData.ExternalDataReference.IsExternal(t), $"t{i} should be external");
            var data = MemoryMarshal.Cast<byte, float>(back.GetTensorBytes(t).Span);
            Assert.That(data.Length, Is.EqualTo(shape[0]));
            Assert.That(data[12345], Is.EqualTo(1.5f + i));
            Assert.That(data[12346], Is.Zero);
        }
        TestContext.Out.WriteLine($"2.25 GiB model: create + load + save {saveTime.TotalSeconds:F2} s, total {sw.Elapsed.TotalSeconds:F2} s");
    }
}
