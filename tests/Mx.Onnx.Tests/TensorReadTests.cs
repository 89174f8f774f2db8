using System.Runtime.InteropServices;
using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

public class TensorReadTests
{
    // Integers that every type can hold exactly, and their expected float values computed independently.
    private static readonly long[] Small = [0, 1, 2, 7, 100, 127];

    private static IEnumerable<TensorElementType> IntegerTypes() =>
    [
        TensorElementType.Int8, TensorElementType.UInt8, TensorElementType.Int16, TensorElementType.UInt16,
        TensorElementType.Int32, TensorElementType.UInt32, TensorElementType.Int64, TensorElementType.UInt64,
    ];

    [TestCaseSource(nameof(IntegerTypes))]
    public void IntegersReadTheSameFromRawAndTypedFields(TensorElementType type)
    {
        int size = type.BitsPerElement() / 8;
        var raw = new byte[Small.Length * size];
        for (int i = 0; i < Small.Length; i++) BitConverter.GetBytes(Small[i]).AsSpan(0, size).CopyTo(raw.AsSpan(i * size));
        var fromRaw = TensorFactory.FromRaw("t", type, [Small.Length], raw);
        var typed = new TensorProto { Name = "t", DataType = (int)type };
        typed.Dims.Add(Small.Length);
        switch (type)
        {
            case TensorElementType.Int64: typed.Int64Data.AddRange(Small); break;
            case TensorElementType.UInt32 or TensorElementType.UInt64: typed.Uint64Data.AddRange(Small.Select(v => (ulong)v)); break;
            default: typed.Int32Data.AddRange(Small.Select(v => (int)v)); break;
        }
        var expected = Small.Select(v => (float)v).ToArray();
        Assert.That(TensorReader.ToFloat32(fromRaw, null), Is.EqualTo(expected));
        Assert.That(TensorReader.ToFloat32(typed, null), Is.EqualTo(expected));
    }

    [Test]
    public void NegativeIntegersKeepTheirSign()
    {
        var typed = new TensorProto { Name = "t", DataType = (int)TensorElementType.Int8 };
        typed.Dims.Add(3);
        typed.Int32Data.AddRange([-128, -1, 5]);
        Assert.That(TensorReader.ToFloat32(typed, null), Is.EqualTo(new[] { -128f, -1f, 5f }));
    }

    [Test]
    public void FloatingTypesReadFromRawAndTypedFields()
    {
        var values = new[] { 0f, 1f, -2.5f, 0.125f, 1024f, -0.0078125f }; // exact in float16 and bfloat16
        var halves = values.Select(v => (Half)v).ToArray();
        var bf16 = values.Select(v => (ushort)(BitConverter.SingleToInt32Bits(v) >> 16)).ToArray();
        var doubles = values.Select(v => (double)v).ToArray();
        long[] shape = [2, 3];
        var cases = new (string Name, TensorProto Tensor)[]
        {
            ("float raw", TensorFactory.Float32("a", shape, values)),
            ("float16 raw", TensorFactory.FromRaw("b", TensorElementType.Float16, shape, MemoryMarshal.AsBytes(halves.AsSpan()))),
            ("bfloat16 raw", TensorFactory.FromRaw("c", TensorElementType.BFloat16, shape, MemoryMarshal.AsBytes(bf16.AsSpan()))),
            ("double raw", TensorFactory.FromRaw("d", TensorElementType.Double, shape, MemoryMarshal.AsBytes(doubles.AsSpan()))),
            ("float typed", Typed(TensorElementType.Float, t => t.FloatData.AddRange(values))),
            ("float16 typed", Typed(TensorElementType.Float16, t => t.Int32Data.AddRange(halves.Select(h => (int)BitConverter.HalfToUInt16Bits(h))))),
            ("bfloat16 typed", Typed(TensorElementType.BFloat16, t => t.Int32Data.AddRange(bf16.Select(b => (int)b)))),
            ("double typed", Typed(TensorElementType.Double, t => t.DoubleData.AddRange(doubles))),
        };
        foreach (var (name, tensor) in cases)
            Assert.That(TensorReader.ToFloat32(tensor, null), Is.EqualTo(values), name);

        TensorProto Typed(TensorElementType type, Action<TensorProto> fill)
        {
            var t = new TensorProto { Name = "typed", DataType = (int)type };
            t.Dims.AddRange(shape);
            fill(t);
            return t;
        }
    }

    [Test]
    public void PackedInitializerIsCreatedAndReplaced()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("shared_weight.onnx"));
        var first = Enumerable.Range(0, 96).Select(i => (byte)i).ToArray();
        model.SetPackedInitializer("w.mx", [4, 24], first);
        var second = Enumerable.Range(0, 48).Select(i => (byte)(255 - i)).ToArray();
        model.SetPackedInitializer("w.mx", [2, 24], second);
        var found = model.Proto.Graph.Initializer.Where(t => t.Name == "w.mx").ToList();
        Assert.That(found, Has.Count.EqualTo(1));
        Assert.That(found[0].ElementType(), Is.EqualTo(TensorElementType.UInt8));
        Assert.That(found[0].Shape(), Is.EqualTo(new long[] { 2, 24 }));
        Assert.That(model.GetTensorBytes(found[0]).ToArray(), Is.EqualTo(second));
        Assert.Throws<ArgumentException>(() => model.SetPackedInitializer("w.mx", [3, 24], second));
    }

    [Test]
    public void InitializerOverriddenByAGraphInputIsNotAConstant()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("shared_weight.onnx"));
        var init = model.FindInitializer("shared.weight")!;
        Assert.That(model.Graph.IsConstant("shared.weight"), Is.True);
        model.Proto.Graph.Input.Add(new ValueInfoProto { Name = init.Name });
        model.Refresh();
        Assert.That(model.Graph.IsOverriddenByInput("shared.weight"), Is.True);
        Assert.That(model.Graph.IsConstant("shared.weight"), Is.False);
        model.Proto.IrVersion = 3; // before IR 4 initializers had to be inputs, and were constants all the same
        model.Refresh();
        Assert.That(model.Graph.IsConstant("shared.weight"), Is.True);
    }

    [Test]
    public void ConstantNodeWeightsOfPpocrAreReadable()
    {
        using var model = OnnxModel.Load(TestPaths.Shared("models", "ppocr-cls", "model.onnx"));
        var convs = model.Graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        Assert.That(convs, Is.Not.Empty);
        foreach (var conv in convs)
        {
            var w = model.Graph.FindConstant(conv.Input[1]);
            Assert.That(w, Is.Not.Null, $"weight of {conv.Name}");
            Assert.That(w!.Source, Is.EqualTo(Graph.ConstantSource.ConstantNode));
            var values = w.ReadFloat32();
            Assert.That(values.LongLength, Is.EqualTo(w.Shape.Aggregate(1L, (a, b) => a * b)));
            Assert.That(values.All(float.IsFinite), Is.True);
            Assert.That(values.Any(v => v != 0), Is.True, $"{conv.Name}'s weight is all zero");
        }
    }

    [Test]
    public void ConstantNodeAttributesOfEveryKindAreRead()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("constant_weights.onnx"));
        var byOutput = model.Proto.Graph.Node.Where(n => n.OpType == "Constant").ToDictionary(n => n.Output[0]);
        var weight = model.Graph.FindConstant("fc.weight")!;
        var attr = byOutput["fc.weight"].Attribute.Single();
        Assert.That(weight.ReadFloat32(), Is.EqualTo(MemoryMarshal.Cast<byte, float>(attr.T.RawData.Span).ToArray()));
        Assert.That(model.Graph.FindConstant("fc.bias")!.ReadFloat32(), Is.EqualTo(byOutput["fc.bias"].Attribute.Single().Floats.ToArray()));
        var scale = model.Graph.FindConstant("out.scale")!;
        Assert.That(scale.Shape, Is.Empty);
        Assert.That(scale.ReadFloat32(), Is.EqualTo(new[] { byOutput["out.scale"].Attribute.Single().F }));
        Assert.That(model.Graph.FindConstant("x"), Is.Null);
    }
}
