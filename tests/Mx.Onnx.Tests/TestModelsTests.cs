using Mx.TestModels;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

public class TestModelsTests
{
    [Test]
    public void GeneratorReproducesTheCommittedFilesByteForByte()
    {
        using var tmp = new TempFolder();
        TestModelGenerator.Generate(tmp.Path);
        Assert.That(tmp.Listing(), Is.EquivalentTo(TestModelGenerator.Files), "the generator writes exactly the listed files");
        foreach (string f in TestModelGenerator.Files)
            Assert.That(File.ReadAllBytes(tmp.File(f)), Is.EqualTo(File.ReadAllBytes(TestPaths.TestModel(f))),
                $"testmodels/{f} differs from what the generator writes; regenerate it (see testmodels/README.md)");
    }

    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.Generated))]
    public void InputsAndOutputsHaveConcreteTypesAndShapes(string path)
    {
        using var model = OnnxModel.Load(path);
        foreach (var v in model.Proto.Graph.Input.Concat(model.Proto.Graph.Output))
        {
            Assert.That(v.Type?.TensorType, Is.Not.Null, v.Name);
            Assert.That(v.Type!.TensorType.ElemType, Is.GreaterThan(0), v.Name);
            Assert.That(v.Type.TensorType.Shape.Dim, Is.Not.Empty, v.Name);
        }
        Assert.That(new FileInfo(path).Length, Is.LessThan(1 << 20));
    }
}
