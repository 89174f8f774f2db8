using Mx.Onnx.Quantization;
using System.Text.Json;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Tests.Common;
using static Mx.Onnx.Tests.Reports.ReportTestSupport;

namespace Mx.Onnx.Tests.Reports;

/// <summary>The three report forms: JSON keys and values, Markdown tables, self-contained escaped HTML, file handling.</summary>
public class ReportWriterTests
{
    private static readonly string Mlp = TestPaths.TestModel("mlp_outliers.onnx");

    private static QuantizationReport PackedReportWithData(string dir)
    {
        string data = Path.Combine(dir, "data");
        Directory.CreateDirectory(data);
        WriteSamples(data, "x", 4, 128, seed: 2);
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");
        return QuantizationReport.Create(Mlp, q, data);
    }

    [Test]
    public void Json_has_the_documented_keys_with_the_report_values()
    {
        string dir = TempDir();
        var report = PackedReportWithData(dir);
        string path = Path.Combine(dir, "r.json");

        QuantizationReportWriter.Write(report, path);

        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.That(root.GetProperty("total_bytes_before").GetInt64(), Is.EqualTo(new FileInfo(Mlp).Length));
        Assert.That(root.GetProperty("total_bytes_after").GetInt64(), Is.EqualTo(new FileInfo(report.QuantizedModel).Length));
        Assert.That(root.GetProperty("ratio").GetDouble(), Is.EqualTo(report.Ratio));
        Assert.That(root.GetProperty("avg_bits_per_weight").GetDouble(), Is.EqualTo(report.AvgBitsPerWeight));
        var t = root.GetProperty("tensors")[0];
        Assert.That(t.GetProperty("name").GetString(), Is.EqualTo("fc1.weight"));
        Assert.That(t.GetProperty("format").GetString(), Is.EqualTo("mxfp4_e2m1"));
        Assert.That(t.GetProperty("bytes_before").GetInt64(), Is.EqualTo(report.Tensors[0].BytesBefore));
        Assert.That(t.GetProperty("bytes_after").GetInt64(), Is.EqualTo(report.Tensors[0].BytesAfter));
        Assert.That(t.GetProperty("sqnr_db").GetDouble(), Is.EqualTo(report.Tensors[0].SqnrDb));
        Assert.That(root.GetProperty("skipped")[0].GetProperty("name").GetString(), Is.EqualTo("fc2.weight"));
        var o = root.GetProperty("outputs")[0];
        var expected = report.Comparison!.Outputs[0];
        Assert.That(o.GetProperty("name").GetString(), Is.EqualTo("y"));
        Assert.That(o.GetProperty("max_abs_error").GetDouble(), Is.EqualTo(expected.MaxAbsError));
        Assert.That(o.GetProperty("rel_l2_error").GetDouble(), Is.EqualTo(expected.RelL2Error));
        Assert.That(o.GetProperty("cosine").GetDouble(), Is.EqualTo(expected.Cosine));
        Assert.That(o.GetProperty("top1_agreement").GetDouble(), Is.EqualTo(expected.Top1Agreement));
        Assert.That(o.GetProperty("mean_kl").GetDouble(), Is.EqualTo(expected.MeanKl));
        Assert.That(root.GetProperty("samples").GetInt32(), Is.EqualTo(4));
    }

    [Test]
    public void Json_without_data_has_null_outputs_and_infinite_sqnr_as_null()
    {
        var report = Synthetic("w", sqnr: double.PositiveInfinity, withData: false);
        string path = Path.Combine(TempDir(), "r.json");
        QuantizationReportWriter.Write(report, path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        Assert.That(doc.RootElement.GetProperty("outputs").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(doc.RootElement.GetProperty("tensors")[0].GetProperty("sqnr_db").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public void Markdown_has_a_row_per_tensor_skipped_weight_and_output()
    {
        string dir = TempDir();
        var report = PackedReportWithData(dir);
        string path = Path.Combine(dir, "r.md");

        QuantizationReportWriter.Write(report, path);

        string[] lines = File.ReadAllLines(path);
        Assert.That(lines, Has.Some.StartsWith("| tensor | op | shape |"));
        Assert.That(lines, Has.Some.StartsWith("| `fc1.weight` | MatMul | [128, 256] | float | mxfp4_e2m1 |"));
        Assert.That(lines, Has.Some.StartsWith("| `fc2.weight` | MatMul |"));
        Assert.That(lines, Has.Some.StartsWith("| `y` | [1, 64] |"));
        Assert.That(lines, Has.Some.Contains(ReportTextForTest.Db(report.Tensors[0].SqnrDb)));
    }

    [Test]
    public void Html_is_self_contained_and_escapes_names()
    {
        string evil = "<script>alert(1)</script>&\"x\"|`";
        var report = Synthetic(evil, sqnr: 17.5);
        string path = Path.Combine(TempDir(), "r.html");

        QuantizationReportWriter.Write(report, path);

        string html = File.ReadAllText(path);
        Assert.That(html, Does.Not.Contain("<script"), "names are escaped and the page has no scripts");
        Assert.That(html, Does.Contain("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x&quot;"));
        Assert.That(html, Does.Not.Contain("src=").And.Not.Contain("href=").And.Not.Contain("@import"), "nothing is loaded from elsewhere");
        Assert.That(html, Does.Contain("<svg").And.Contain("<style>"));
        Assert.That(html.Split("<svg").Length - 1, Is.EqualTo(3), "bytes by layer, bytes by format, SQNR by layer");
    }

    [Test]
    public void Markdown_escapes_table_breaking_names()
    {
        var report = Synthetic("a|b<i>", sqnr: 12);
        string path = Path.Combine(TempDir(), "r.md");
        QuantizationReportWriter.Write(report, path);
        string row = File.ReadAllLines(path).Single(l => l.StartsWith("| `a", StringComparison.Ordinal));
        Assert.That(row, Does.Contain("a\\|b<i>"));
        Assert.That(row.Replace("\\|", "").Count(ch => ch == '|'), Is.EqualTo(11), "ten cells");
    }

    [Test]
    public void Unknown_extension_is_an_error_naming_the_path_and_writes_nothing()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "r.txt");
        var ex = Assert.Throws<ArgumentException>(() => QuantizationReportWriter.Write(Synthetic("w", 20), path));
        Assert.That(ex!.Message, Does.Contain(path).And.Contain(".md").And.Contain(".json").And.Contain(".html"));
        Assert.That(Directory.GetFiles(dir), Is.Empty);
    }

    [Test]
    public void Writing_replaces_an_existing_report_and_leaves_no_temporary_file()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "r.md");
        File.WriteAllText(path, "old");
        QuantizationReportWriter.Write(Synthetic("w", 20), path);
        Assert.That(File.ReadAllText(path), Does.StartWith("# MX quantization report"));
        Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }));
    }

    /// <summary>A report built in memory (no files) with one tensor named <paramref name="name"/>.</summary>
    internal static QuantizationReport Synthetic(string name, double sqnr, int tensors = 1, bool withData = true) => new()
    {
        OriginalModel = "orig <1>.onnx",
        QuantizedModel = "q.onnx",
        Tool = "mx 0.1.0",
        Metadata = new QuantizationMetadata("mx 0.1.0", "packed", "mxfp4_e2m1", 32, "floor", "even", null, [], []),
        Tensors = Enumerable.Range(0, tensors).Select(i => new TensorReport(i == 0 ? name : $"layer{i}.weight", "MatMul", [64, 64], "float",
            i % 3 == 2 ? "mxfp8_e4m3" : "mxfp4_e2m1", 32, 4096, 16384, 2176 + 1000 * (i % 3), 2176, sqnr - i, 1e-4, 0.01)).ToArray(),
        Skipped = [new SkippedTensorEntry("emb & <co>", "Gather", "excluded: too small")],
        TotalBytesBefore = 16384L * tensors + 1000,
        TotalBytesAfter = 2176L * tensors + 1000,
        Comparison = !withData ? null : new ModelComparisonResult(3, [new OutputComparison("logits <out>", TensorElementType.Float, [1, 10], 3, 30, 0.5, 0.02, 0.9998, true, 3, 2.0 / 3, 0.001)]),
        DataDir = withData ? "data" : null,
    };
}

/// <summary>The dB text the writers use, for matching table cells.</summary>
internal static class ReportTextForTest
{
    public static string Db(double db) => db.ToString("F2", System.Globalization.CultureInfo.InvariantCulture);
}
