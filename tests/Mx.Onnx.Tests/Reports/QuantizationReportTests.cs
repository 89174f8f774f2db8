using Mx.Onnx.Reports;
using Mx.Runtime.Formats;
using Mx.Tests.Common;
using static Mx.Onnx.Tests.Reports.ReportTestSupport;

namespace Mx.Onnx.Tests.Reports;

/// <summary>The report's weight numbers, read back from quantized files written by the test helper per the contract.</summary>
public class QuantizationReportTests
{
    private static readonly string Mlp = TestPaths.TestModel("mlp_outliers.onnx");

    [Test]
    public void Packed_report_decodes_weights_from_the_file_and_totals_the_file_sizes()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        var written = QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");

        var report = QuantizationReport.Create(Mlp, q);

        Assert.That(report.Tensors, Has.Count.EqualTo(1));
        var t = report.Tensors[0];
        var w = written[0];
        Assert.That(t.Name, Is.EqualTo("fc1.weight"));
        Assert.That(t.Op, Is.EqualTo("MatMul"));
        Assert.That(t.Shape, Is.EqualTo(w.Shape));
        Assert.That(t.Format, Is.EqualTo("mxfp4_e2m1"));
        Assert.That(t.DType, Is.EqualTo("float"));
        Assert.That(t.BytesBefore, Is.EqualTo(w.Original.Length * 4L));
        // fp4: K/2 code bytes per column and one scale byte per 32 values.
        long k = w.Shape[0], n = w.Shape[1];
        Assert.That(t.BytesAfter, Is.EqualTo(n * (k / 2) + n * (k / 32)));
        Assert.That(t.Ratio, Is.EqualTo((double)t.BytesBefore / t.BytesAfter).Within(1e-12));
        Assert.That(t.SqnrDb, Is.EqualTo(Sqnr(w.Original, w.Dequantized)).Within(1e-9));
        Assert.That(report.TotalBytesBefore, Is.EqualTo(new FileInfo(Mlp).Length));
        Assert.That(report.TotalBytesAfter, Is.EqualTo(new FileInfo(q).Length));
        Assert.That(report.Ratio, Is.EqualTo((double)new FileInfo(Mlp).Length / new FileInfo(q).Length).Within(1e-12));
        Assert.That(report.AvgBitsPerWeight, Is.EqualTo(4 + 8.0 / 32).Within(1e-12));
        Assert.That(report.Skipped.Select(s => s.Name), Is.EqualTo(new[] { "fc2.weight" }));
        Assert.That(report.Skipped[0].Reason, Is.Not.Empty);
        Assert.That(report.Comparison, Is.Null);
    }

    [TestCase("mxfp8_e4m3")]
    [TestCase("mxint8")]
    public void Qdq_weights_decode_to_the_quantizer_values(string formatName)
    {
        var format = MxFormats.Parse(formatName);
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        var written = QuantizedTestModels.WriteQdq(Mlp, q, format, "fc1.weight", "fc2.weight");

        var report = QuantizationReport.Create(Mlp, q);

        Assert.That(report.Tensors.Select(t => t.Name), Is.EqualTo(written.Select(w => w.Name)));
        for (int i = 0; i < written.Count; i++)
        {
            var (t, w) = (report.Tensors[i], written[i]);
            Assert.That(t.SqnrDb, Is.EqualTo(Sqnr(w.Original, w.Dequantized)).Within(1e-9), t.Name);
            // int8/fp8 data (one byte per weight) plus one float32 scale per 32 weights.
            Assert.That(t.BytesAfter, Is.EqualTo(w.Original.Length + w.Original.Length / 32 * 4L), t.Name);
            Assert.That(t.FormatBytes, Is.EqualTo(w.Original.Length + w.Original.Length / 32), t.Name);
        }
    }

    [Test]
    public void Fake_quantized_weights_are_compared_with_the_original_file()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        var written = QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxint4, "fc1.weight", "fc2.weight");

        var report = QuantizationReport.Create(Mlp, q);

        for (int i = 0; i < written.Count; i++)
        {
            Assert.That(report.Tensors[i].SqnrDb, Is.EqualTo(Sqnr(written[i].Original, written[i].Dequantized)).Within(1e-9));
            Assert.That(report.Tensors[i].BytesAfter, Is.EqualTo(written[i].Original.Length * 4L), "fake quantization stores float32");
        }
        Assert.That(report.AvgBitsPerWeight, Is.EqualTo(32).Within(1e-12));
        Assert.That(report.FormatBitsPerWeight, Is.EqualTo(4 + 8.0 / 32).Within(1e-12));
        Assert.That(report.Skipped, Is.Empty);
    }

    [Test]
    public void Totals_include_external_data_files()
    {
        string original = TestPaths.TestModel("external_data/model.onnx");
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(original, q, MxFormats.Mxfp8E4M3, "fc1.weight");

        var report = QuantizationReport.Create(original, q);

        string data = Path.Combine(Path.GetDirectoryName(original)!, "model.onnx.data");
        Assert.That(report.TotalBytesBefore, Is.EqualTo(new FileInfo(original).Length + new FileInfo(data).Length));
        long after = new FileInfo(q).Length + Directory.GetFiles(dir).Where(f => f != q).Sum(f => new FileInfo(f).Length);
        Assert.That(report.TotalBytesAfter, Is.EqualTo(after));
    }

    [Test]
    public void Model_without_quantization_metadata_is_an_error_naming_the_file()
    {
        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, Mlp));
        Assert.That(ex!.Message, Does.Contain(Path.GetFullPath(Mlp)).And.Contain("mx.quantization"));
    }

    [Test]
    public void Missing_initializer_named_by_the_metadata_is_an_error_naming_it()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");
        QuantizedTestModels.EditMetadata(q, json => json!.Replace("fc1.weight.mx_scales", "no_such_scales"));

        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, q));
        Assert.That(ex!.Message, Does.Contain("no_such_scales").And.Contain("fc1.weight").And.Contain(q));
    }

    [Test]
    public void Weight_missing_from_the_original_is_an_error_naming_it()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");
        QuantizedTestModels.EditMetadata(q, json => json!.Replace("\"name\":\"fc1.weight\"", "\"name\":\"ghost.weight\""));

        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, q));
        Assert.That(ex!.Message, Does.Contain("ghost.weight").And.Contain(Path.GetFullPath(Mlp)));
    }

    [TestCase("not json")]
    [TestCase("{\"emit\":\"packed\"}")]
    [TestCase("{\"emit\":\"zip\",\"tensors\":[]}")]
    public void Malformed_metadata_is_an_error_naming_the_file(string json)
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WriteFake(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");
        QuantizedTestModels.EditMetadata(q, _ => json);

        var ex = Assert.Throws<InvalidDataException>(() => QuantizationReport.Create(Mlp, q));
        Assert.That(ex!.Message, Does.Contain(q).And.Contain("mx.quantization"));
    }

    [Test]
    public void Report_leaves_its_inputs_unchanged()
    {
        string dir = TempDir();
        string q = Path.Combine(dir, "q.onnx");
        QuantizedTestModels.WritePacked(Mlp, q, MxFormats.Mxfp4E2M1, "fc1.weight");
        byte[] before = File.ReadAllBytes(q), original = File.ReadAllBytes(Mlp);

        QuantizationReport.Create(Mlp, q);

        Assert.That(File.ReadAllBytes(q), Is.EqualTo(before));
        Assert.That(File.ReadAllBytes(Mlp), Is.EqualTo(original));
    }
}
