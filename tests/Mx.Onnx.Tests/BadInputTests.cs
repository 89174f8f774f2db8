using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

public class BadInputTests
{
    private static OnnxFormatException LoadFails(TempFolder tmp, byte[] bytes)
    {
        string path = tmp.File("bad.onnx");
        File.WriteAllBytes(path, bytes);
        var before = tmp.Listing();
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(path).Dispose());
        Assert.That(ex!.Message, Does.Contain(path), "the message names the file");
        Assert.That(tmp.Listing(), Is.EqualTo(before), "nothing is written");
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes), "the input is not modified");
        return ex;
    }

    [TestCase(0.5)]
    [TestCase(0.9)]
    [TestCase(0.999)]
    public void TruncatedModelIsRejected(double keep)
    {
        using var tmp = new TempFolder();
        byte[] full = File.ReadAllBytes(TestPaths.TestModel("transformer_block.onnx"));
        LoadFails(tmp, full[..(int)(full.Length * keep)]);
    }

    [Test]
    public void EmptyFileIsRejected()
    {
        using var tmp = new TempFolder();
        Assert.That(LoadFails(tmp, []).Message, Does.Contain("empty"));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void RandomBytesAreRejected(int seed)
    {
        using var tmp = new TempFolder();
        var bytes = new byte[4096];
        new Random(seed).NextBytes(bytes);
        LoadFails(tmp, bytes);
    }

    [Test]
    public void TextIsRejected()
    {
        using var tmp = new TempFolder();
        LoadFails(tmp, System.Text.Encoding.UTF8.GetBytes("{\"this\": \"is json, not an onnx model\"}\n"));
    }

    [Test]
    public void TensorProtoFileIsRejected()
    {
        using var tmp = new TempFolder();
        var tensor = Tensors.TensorFactory.Float32("input", [1, 3], [1f, 2f, 3f]);
        Assert.That(LoadFails(tmp, tensor.ToByteArray()).Message, Does.Contain("not an ONNX model").And.Contain("TensorProto"));
    }

    [Test]
    public void SharedTestDataTensorFileIsRejected()
    {
        string dir = TestPaths.Shared("models", "squeezenet1.1", "test_data_set_0");
        string pb = Directory.GetFiles(dir, "*.pb").Order(StringComparer.Ordinal).First();
        using var tmp = new TempFolder();
        Assert.That(LoadFails(tmp, File.ReadAllBytes(pb)).Message, Does.Contain("not an ONNX model").And.Contain("TensorProto"));
    }

    [Test]
    public void GraphProtoFileIsRejected()
    {
        using var tmp = new TempFolder();
        using var model = OnnxModel.Load(TestPaths.TestModel("convnet.onnx"));
        LoadFails(tmp, model.Proto.Graph.ToByteArray());
    }

    [Test]
    public void ModelWithoutGraphIsRejected()
    {
        using var tmp = new TempFolder();
        var m = new ModelProto { IrVersion = 8 };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        Assert.That(LoadFails(tmp, m.ToByteArray()).Message, Does.Contain("no graph"));
    }

    [Test]
    public void MissingModelFileIsReported()
    {
        using var tmp = new TempFolder();
        var ex = Assert.Throws<FileNotFoundException>(() => OnnxModel.Load(tmp.File("absent.onnx")));
        Assert.That(ex!.Message, Does.Contain("absent.onnx"));
    }

    [Test]
    public void RawDataOfTheWrongSizeIsReportedWithTheTensorName()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("shared_weight.onnx"));
        var t = model.FindInitializer("shared.weight")!;
        t.RawData = ByteString.CopyFrom(t.RawData.Span[..100]);
        var ex = Assert.Throws<OnnxFormatException>(() => model.ReadFloat32(t));
        Assert.That(ex!.Message, Does.Contain("shared.weight").And.Contain("raw_data"));
    }
}
