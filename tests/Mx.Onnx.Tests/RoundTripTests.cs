using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.Tests;

public class RoundTripTests
{
    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.All))]
    public void LoadSaveLoadGivesTheSameModelAndTheSameBytes(string path)
    {
        using var tmp = new TempFolder();
        using var original = OnnxModel.Load(path);
        string first = tmp.File("first/model.onnx"), second = tmp.File("second/model.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(first)!);
        Directory.CreateDirectory(Path.GetDirectoryName(second)!);
        original.Save(first);
        using var reloaded = OnnxModel.Load(first);
        Assert.That(reloaded.Proto, Is.EqualTo(original.Proto), "the reloaded ModelProto differs");
        reloaded.Save(second);
        Assert.That(File.ReadAllBytes(second), Is.EqualTo(File.ReadAllBytes(first)), "a second save wrote different bytes");
        // Same data behind every tensor, wherever it is stored.
        var a = ModelWalker.AllTensors(original.Proto).Where(t => t.DataType != (int)TensorProto.Types.DataType.String).ToList();
        var b = ModelWalker.AllTensors(reloaded.Proto).Where(t => t.DataType != (int)TensorProto.Types.DataType.String).ToList();
        Assert.That(b, Has.Count.EqualTo(a.Count));
        for (int i = 0; i < a.Count; i++)
            Assert.That(reloaded.GetTensorBytes(b[i]).ToArray(), Is.EqualTo(original.GetTensorBytes(a[i]).ToArray()), $"tensor '{a[i].Name}'");
    }

    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.All))]
    public void ToBytesThenFromBytesKeepsTheModel(string path)
    {
        using var model = OnnxModel.Load(path);
        using var again = OnnxModel.FromBytes(model.ToBytes());
        // ToBytes inlines external data; compare with an inlined copy of the original.
        var expected = model.Proto.Clone();
        foreach (var t in ModelWalker.AllTensors(expected).Where(ExternalData.ExternalDataReference.IsExternal))
        {
            t.RawData = ByteString.CopyFrom(model.ExternalData.Read(t).Span);
            t.ExternalData.Clear();
            t.ClearDataLocation();
        }
        Assert.That(again.Proto, Is.EqualTo(expected));
    }

    [Test]
    public void UnknownFieldsSurviveLoadAndSave()
    {
        using var tmp = new TempFolder();
        byte[] original = File.ReadAllBytes(Mx.Tests.Common.TestPaths.TestModel("shared_weight.onnx"));
        // Field 1000 of ModelProto (unknown to this schema), length-delimited, and field 1001, varint.
        var extra = new MemoryStream();
        var cos = new CodedOutputStream(extra);
        cos.WriteTag(1000, WireFormat.WireType.LengthDelimited);
        cos.WriteString("from a future ONNX");
        cos.WriteTag(1001, WireFormat.WireType.Varint);
        cos.WriteInt64(123456789);
        cos.Flush();
        byte[] injected = [.. original, .. extra.ToArray()];
        File.WriteAllBytes(tmp.File("in.onnx"), injected);
        using var model = OnnxModel.Load(tmp.File("in.onnx"));
        model.Save(tmp.File("out.onnx"));
        byte[] saved = File.ReadAllBytes(tmp.File("out.onnx"));
        Assert.That(saved, Is.EqualTo(injected), "the saved file should carry the unknown fields unchanged");
        Assert.That(saved.Length, Is.GreaterThan(original.Length));
    }
}
