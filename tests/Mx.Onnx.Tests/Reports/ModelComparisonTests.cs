using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.IO;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;
using Mx.Tests.Common;
using static Mx.Onnx.Tests.Reports.ReportTestSupport;

namespace Mx.Onnx.Tests.Reports;

/// <summary>Output metrics with sample data, checked against metrics computed here from ORT outputs directly.</summary>
public class ModelComparisonTests
{
    private static readonly string Mlp = TestPaths.TestModel("mlp_outliers.onnx");

    [Test]
    public void Report_with_data_matches_metrics_computed_from_ort_outputs()
    {
        string dir = TempDir(), data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight", "fc2.weight");
        const int samples = 6, width = 128;
        string npy = WriteSamples(data, "x", samples, width, seed: 11);

        var report = QuantizationReport.Create(Mlp, q, data);

        // Independent: run both models per sample here and compute the metrics with plain loops.
        using var options = HostTensorSession.CreateOptions();
        using var a = HostTensorSession.FromFile(Mlp, options);
        using var b = HostTensorSession.FromFile(q, options);
        float[] all = NpyFile.Read(npy).ToFloatArray();
        double maxAbs = 0, sse = 0, ssr = 0, ssq = 0, dot = 0, kl = 0;
        int agree = 0, positions = 0;
        for (int s = 0; s < samples; s++)
        {
            var input = new Dictionary<string, HostTensor> { ["x"] = HostTensor.FromFloats(all.AsSpan(s * width, width), 1, width) };
            float[] r = a.Run(input)["y"].ToFloatArray(), c = b.Run(input)["y"].ToFloatArray();
            for (int i = 0; i < r.Length; i++)
            {
                maxAbs = Math.Max(maxAbs, Math.Abs((double)c[i] - r[i]));
                sse += ((double)c[i] - r[i]) * ((double)c[i] - r[i]);
                ssr += (double)r[i] * r[i];
                ssq += (double)c[i] * c[i];
                dot += (double)r[i] * c[i];
            }
            positions++;
            if (ArgMax(r, 0, r.Length) == ArgMax(c, 0, c.Length)) agree++;
            kl += Kl(r, c, 0, r.Length);
        }

        var o = report.Comparison!.Outputs.Single();
        Assert.That(report.Comparison.Samples, Is.EqualTo(samples));
        Assert.That(o.Name, Is.EqualTo("y"));
        Assert.That(o.Shape, Is.EqualTo(new long[] { 1, 64 }));
        Assert.That(o.MaxAbsError, Is.EqualTo(maxAbs).Within(1e-12));
        Assert.That(o.MaxAbsError, Is.GreaterThan(0), "fp4 weights change the outputs");
        Assert.That(o.RelL2Error, Is.EqualTo(Math.Sqrt(sse / ssr)).Within(1e-9));
        Assert.That(o.Cosine, Is.EqualTo(dot / Math.Sqrt(ssr * ssq)).Within(1e-9));
        Assert.That(o.IsClassScores, Is.True);
        Assert.That(o.Positions, Is.EqualTo(positions));
        Assert.That(o.Top1Agreement, Is.EqualTo((double)agree / positions).Within(1e-12));
        Assert.That(o.MeanKl, Is.EqualTo(kl / positions).Within(1e-9));
    }

    [Test]
    public void Per_position_top1_and_kl_for_sequence_logits()
    {
        // [1, T, V] logits: every token position counts; agreement and KL computed here per position.
        var rng = new Random(3);
        const int t = 7, v = 5;
        float[] r = Enumerable.Range(0, t * v).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] c = r.Select((x, i) => i % 3 == 0 ? x + 0.5f : x).ToArray();
        var acc = new OutputErrorAccumulator("logits");
        acc.Add(HostTensor.FromFloats(r, 1, t, v), HostTensor.FromFloats(c, 1, t, v));
        var o = acc.Result();

        int agree = 0;
        double kl = 0;
        for (int p = 0; p < t; p++)
        {
            if (ArgMax(r, p * v, v) == ArgMax(c, p * v, v)) agree++;
            kl += Kl(r, c, p * v, v);
        }
        Assert.That(o.Positions, Is.EqualTo(t));
        Assert.That(o.Top1Agreement, Is.EqualTo((double)agree / t).Within(1e-12));
        Assert.That(o.MeanKl, Is.EqualTo(kl / t).Within(1e-9));
    }

    [Test]
    public void Non_class_outputs_have_no_top1()
    {
        var acc = new OutputErrorAccumulator("vec");
        acc.Add(HostTensor.FromFloats([1f, 2f, 3f], 3), HostTensor.FromFloats([1f, 2f, 4f], 3));
        var o = acc.Result();
        Assert.That(o.IsClassScores, Is.False);
        Assert.That(o.Top1Agreement, Is.Null);
        Assert.That(o.MeanKl, Is.Null);
        Assert.That(o.MaxAbsError, Is.EqualTo(1.0));
    }

    [Test]
    public void Comparison_from_bytes_with_in_memory_samples()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp8E4M3, "fc1.weight");
        using var models = ModelComparison.FromBytes(File.ReadAllBytes(Mlp), File.ReadAllBytes(q));
        var rng = new Random(5);
        var samples = Enumerable.Range(0, 3).Select(_ => (IReadOnlyDictionary<string, HostTensor>)new Dictionary<string, HostTensor>
        {
            ["x"] = HostTensor.FromFloats(Enumerable.Range(0, 2 * 128).Select(_ => (float)rng.NextDouble()).ToArray(), 2, 128),
        }).ToArray();

        var result = models.Compare(samples);

        Assert.That(result.Samples, Is.EqualTo(3));
        var o = result.Outputs.Single();
        Assert.That(o.Positions, Is.EqualTo(6), "two rows per sample");
        Assert.That(o.Values, Is.EqualTo(3 * 2 * 64));
        Assert.That(o.Cosine, Is.GreaterThan(0.99).And.LessThanOrEqualTo(1.0 + 1e-12), "fp8 weights stay close");
    }

    [Test]
    public void Missing_data_folder_is_an_error_naming_it()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxfp8E4M3, "fc1.weight");
        string missing = Path.Combine(dir, "nope");
        var ex = Assert.Throws<DirectoryNotFoundException>(() => QuantizationReport.Create(Mlp, q, missing));
        Assert.That(ex!.Message, Does.Contain(missing));
    }

    [Test]
    public void Data_folder_without_the_input_file_lists_expected_inputs()
    {
        string dir = TempDir(), data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        WriteSamples(data, "input", 2, 128, seed: 1);
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxfp8E4M3, "fc1.weight");
        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, q, data));
        Assert.That(ex!.Message, Does.Contain("x.npy").And.Contain("x: float[batch, 128]").And.Contain("input.npy"));
    }

    [Test]
    public void Samples_of_the_wrong_size_are_an_error_naming_the_file_and_input()
    {
        string dir = TempDir(), data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        string npy = WriteSamples(data, "x", 2, 100, seed: 1);
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxfp8E4M3, "fc1.weight");
        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, q, data));
        Assert.That(ex!.Message, Does.Contain(npy).And.Contain("[100]").And.Contain("x: float[batch, 128]"));
    }

    [Test]
    public void Squeezenet_conv_weights_fake_quantized_on_imagenet_samples()
    {
        string model = TestPaths.Shared("models", "squeezenet1.1", "model.onnx");
        string images = TestPaths.Shared("calib", "imagenet", "images_224.npy");
        string dir = TempDir(), data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        var all = NpyFile.Read(images);
        // Four images keep the test short; the input is named `data`.
        int per = (int)(all.Data.Length / all.Shape[0]);
        NpyFile.Write(Path.Combine(data, "data.npy"), new HostTensor(all.ElementType, [4, .. all.Shape[1..]], all.Data.AsSpan(0, 4 * per).ToArray()));
        string q = Path.Combine(dir, "q.onnx");
        string[] convs;
        using (var m = OnnxModel.Load(model))
            convs = m.Proto.Graph.Node.Where(n => n.OpType == "Conv" && m.FindInitializer(n.Input[1]) is not null).Select(n => n.Input[1]).Take(4).ToArray();
        var written = QuantizedTestModels.WriteFake(model, q, MxFormats.Mxfp8E4M3, convs);

        var report = QuantizationReport.Create(model, q, data);

        Assert.That(report.Tensors.Select(t => t.Name), Is.EqualTo(convs));
        for (int i = 0; i < convs.Length; i++)
            Assert.That(report.Tensors[i].SqnrDb, Is.EqualTo(Sqnr(written[i].Original, written[i].Dequantized)).Within(1e-9));
        var o = report.Comparison!.Outputs[0];
        Assert.That(report.Comparison.Samples, Is.EqualTo(4));
        Assert.That(o.IsClassScores, Is.True);
        Assert.That(o.Positions, Is.EqualTo(4));
        Assert.That(o.Top1Agreement, Is.Not.Null);
    }
}
