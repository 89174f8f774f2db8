using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests.Quantization;

/// <summary>
/// The acceptance figures for uniform round-to-nearest MX of the weights alone (floor scale, round-half-even,
/// blocks of 32 along the reduction axis), measured independently with a fake-quant in stock ONNX Runtime. Our packed
/// (mx.onnx kernels) and fake (dequantized fp32) outputs must reproduce them within one image / two percentage points.
/// </summary>
public class AcceptanceTests
{
    [TestCase("mxint8", 14), TestCase("mxfp8_e4m3", 11), TestCase("mxfp6_e2m3", 11), TestCase("mxfp4_e2m1", 7)]
    public void SqueezeNetTop1AgreementWithFp32(string format, int independentlyMeasured)
    {
        string model = TestPaths.Shared("models", "squeezenet1.1", "model.onnx");
        var images = NpyFile.Read(TestPaths.Shared("calib", "imagenet", "images_224.npy"));
        var samples = Split(images, "data");
        foreach (var emit in new[] { EmitForm.Packed, EmitForm.Fake })
        {
            var output = Compare(model, samples, format, emit, ops: null);
            int agreeing = (int)Math.Round(output.Top1Agreement!.Value * samples.Count);
            Assert.That(agreeing, Is.InRange(independentlyMeasured - 1, independentlyMeasured + 1),
                $"{format} {emit}: {agreeing}/{samples.Count} top-1 agreement, independently measured {independentlyMeasured}/{samples.Count}");
        }
    }

    [TestCase("mxint8", 0.84, 0.036), TestCase("mxfp8_e4m3", 0.65, 0.30), TestCase("mxfp6_e2m3", 0.67, 0.30), TestCase("mxfp4_e2m1", 0.25, 2.7)]
    public void Stories260KArgmaxAgreementWithFp32(string format, double independentAgreement, double independentKl)
    {
        string model = TestPaths.Shared("models", "stories260K", "model.onnx");
        var tokens = NpyFile.Read(TestPaths.Shared("models", "stories260K", "greedy_tokens.npy"));
        var ids = new HostTensor(TensorElementType.Int64, [1, tokens.ElementCount], tokens.Data);
        var samples = new List<IReadOnlyDictionary<string, HostTensor>> { new Dictionary<string, HostTensor> { ["input_ids"] = ids } };
        foreach (var emit in new[] { EmitForm.Packed, EmitForm.Fake })
        {
            // The reference quantized the MatMul weights (the manifest's weighted ops), not the embedding table.
            var output = Compare(model, samples, format, emit, ops: ["MatMul"]);
            Assert.That(output.Top1Agreement, Is.EqualTo(independentAgreement).Within(0.02), $"{format} {emit}: argmax agreement");
            Assert.That(output.MeanKl, Is.EqualTo(independentKl).Within(independentKl * 0.15), $"{format} {emit}: mean KL");
        }
    }

    private static OutputComparison Compare(string model, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> samples, string format, EmitForm emit, string[]? ops)
    {
        using var tmp = new TempFolder();
        var options = new QuantizationOptions { Format = MxFormats.Parse(format), Emit = emit };
        if (ops != null) options = options with { Ops = ops.ToHashSet(StringComparer.Ordinal) };
        var (quantized, result) = QuantizeHarness.QuantizeFile(model, tmp.Path, options, $"{format}.{emit}");
        Assert.That(result.Tensors, Is.Not.Empty);
        using var comparison = ModelComparison.FromFiles(model, quantized);
        return comparison.Compare(samples).Outputs.Single(o => o.IsClassScores);
    }

    /// <summary>The first axis of <paramref name="batch"/> as separate [1, ...] samples of input <paramref name="name"/>.</summary>
    private static List<IReadOnlyDictionary<string, HostTensor>> Split(HostTensor batch, string name)
    {
        long n = batch.Shape[0];
        long per = batch.ElementCount / n * 4;
        long[] shape = [1, .. batch.Shape[1..]];
        var result = new List<IReadOnlyDictionary<string, HostTensor>>();
        for (long i = 0; i < n; i++)
            result.Add(new Dictionary<string, HostTensor> { [name] = new HostTensor(TensorElementType.Float, shape, batch.Data.AsSpan((int)(i * per), (int)per).ToArray()) });
        return result;
    }
}
