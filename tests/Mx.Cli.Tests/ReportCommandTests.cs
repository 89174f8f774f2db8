using System.Text.Json;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.IO;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

/// <summary><c>mx report</c> on a fake-quantized test model written here per the mx.quantization contract.</summary>
public class ReportCommandTests : CliTest
{
    private static readonly string Mlp = TestPaths.TestModel("mlp_outliers.onnx");




    // fc1.weight [128, 256] replaced by its mxfp4 dequantized values (emit=fake), with the metadata that says so.
    private (string Path, float[] Original, float[] Dequantized) FakeQuantized()
    {
        string path = Path.Combine(Dir, "q.onnx");
        using var model = OnnxModel.Load(Mlp);
        var w = model.FindInitializer("fc1.weight")!;
        float[] x = model.ReadFloat32(w);
        var packed = MxQuantizer.Quantize(x, [128, 256], new MxQuantizeOptions(MxFormats.Mxfp4E2M1) { Axis = 0 });
        float[] q = MxQuantizer.Dequantize(packed);
        model.SetInitializer(TensorFactory.Float32("fc1.weight", [128, 256], q));
        var meta = new
        {
            tool = "mx 0.1.0", emit = "fake", format = "mxfp4_e2m1", block_size = 32, scale = "floor", rounding = "even", act_format = (string?)null,
            tensors = new[]
            {
                new
                {
                    name = "fc1.weight", op = "MatMul", nodes = Array.Empty<string>(), shape = new[] { 128, 256 }, dtype = "float", format = "mxfp4_e2m1",
                    block_size = 32, scale = "floor", rounding = "even", block_shape = new[] { 128, 256 }, axis = 0, elements = "fc1.weight",
                    scales = (string?)null, micro = (string?)null, bytes_before = 131072, bytes_after = 131072,
                },
            },
            skipped = new[] { new { name = "fc2.weight", op = "MatMul", reason = "test" } },
        };
        model.Proto.MetadataProps.Add(new StringStringEntryProto { Key = "mx.tool", Value = "mx 0.1.0" });
        model.Proto.MetadataProps.Add(new StringStringEntryProto { Key = "mx.quantization", Value = JsonSerializer.Serialize(meta) });
        model.Save(path);
        return (path, x, q);
    }

    [Test]
    public void Writes_json_with_sizes_sqnr_and_output_metrics()
    {
        var (q, x, dq) = FakeQuantized();
        string data = Path.Combine(Dir, "data");
        Directory.CreateDirectory(data);
        var rng = new Random(4);
        NpyFile.Write(Path.Combine(data, "x.npy"), HostTensor.FromFloats(Enumerable.Range(0, 3 * 128).Select(_ => (float)rng.NextDouble()).ToArray(), 3, 128));
        string json = Path.Combine(Dir, "r.json");

        var (code, stdout, err) = Mx("report", Mlp, q, "--data", data, "-o", json);

        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(stdout, Does.Contain(json).And.Contain("top-1 agreement"));
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.That(root.GetProperty("total_bytes_before").GetInt64(), Is.EqualTo(new FileInfo(Mlp).Length));
        Assert.That(root.GetProperty("total_bytes_after").GetInt64(), Is.EqualTo(new FileInfo(q).Length));
        double signal = 0, noise = 0;
        for (int i = 0; i < x.Length; i++)
        {
            signal += (double)x[i] * x[i];
            noise += ((double)dq[i] - x[i]) * ((double)dq[i] - x[i]);
        }
        Assert.That(root.GetProperty("tensors")[0].GetProperty("sqnr_db").GetDouble(), Is.EqualTo(10 * Math.Log10(signal / noise)).Within(1e-9));
        Assert.That(root.GetProperty("outputs")[0].GetProperty("name").GetString(), Is.EqualTo("y"));
        Assert.That(root.GetProperty("samples").GetInt32(), Is.EqualTo(3));
    }

    [TestCase(".md", "# MX quantization report")]
    [TestCase(".html", "<!DOCTYPE html>")]
    public void Writes_markdown_and_html(string ext, string start)
    {
        var (q, _, _) = FakeQuantized();
        string path = Path.Combine(Dir, "r" + ext);
        var (code, _, err) = Mx("report", Mlp, q, "-o", path);
        Assert.That(code, Is.EqualTo(0), err);
        Assert.That(File.ReadAllText(path), Does.StartWith(start).And.Contain("fc1.weight"));
    }

    [Test]
    public void Unknown_extension_is_a_usage_error()
    {
        var (q, _, _) = FakeQuantized();
        string path = Path.Combine(Dir, "r.pdf");
        var (code, _, err) = Mx("report", Mlp, q, "-o", path);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(err.Trim(), Does.StartWith("mx report:").And.Contain(path).And.Contain(".html"));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void Model_without_metadata_is_one_error_line_naming_it()
    {
        string path = Path.Combine(Dir, "r.md");
        var (code, _, err) = Mx("report", Mlp, Mlp, "-o", path);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(err, Does.Contain("mx.quantization").And.Contain(Path.GetFullPath(Mlp)));
        Assert.That(File.Exists(path), Is.False);
    }

    [Test]
    public void Missing_model_file_is_an_error_naming_it()
    {
        string missing = Path.Combine(Dir, "missing.onnx");
        var (code, _, err) = Mx("report", Mlp, missing, "-o", Path.Combine(Dir, "r.md"));
        Assert.That(code, Is.EqualTo(1));
        Assert.That(err, Does.Contain(missing));
    }
}
