using Mx.Runtime;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Mx.Onnx.Reports;

/// <summary>Writes a <see cref="QuantizationReport"/> as JSON (schema: docs/report-schema.md). Non-finite numbers are written as null.</summary>
public static class ReportJsonWriter
{
    /// <summary>The schema version written in <c>schema_version</c>.</summary>
    public const int SchemaVersion = 1;

    /// <summary>Writes the report to <paramref name="stream"/> (UTF-8, indented).</summary>
    public static void Write(QuantizationReport report, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var m = report.Metadata;
        w.WriteStartObject();
        w.WriteNumber("schema_version", SchemaVersion);
        w.WriteString("original_model", report.OriginalModel);
        w.WriteString("quantized_model", report.QuantizedModel);
        w.WriteString("tool", report.Tool);
        w.WriteStartObject("settings");
        w.WriteString("emit", m.Emit);
        w.WriteString("format", m.Format);
        w.WriteNumber("block_size", m.BlockSize);
        w.WriteString("scale", m.Scale);
        w.WriteString("rounding", m.Rounding);
        if (m.ActFormat is null) w.WriteNull("act_format"); else w.WriteString("act_format", m.ActFormat);
        w.WriteEndObject();
        w.WriteNumber("total_bytes_before", report.TotalBytesBefore);
        w.WriteNumber("total_bytes_after", report.TotalBytesAfter);
        Number(w, "ratio", report.Ratio);
        w.WriteNumber("quantized_weights", report.QuantizedWeights);
        Number(w, "avg_bits_per_weight", report.AvgBitsPerWeight);
        Number(w, "format_bits_per_weight", report.FormatBitsPerWeight);
        w.WriteStartArray("tensors");
        foreach (var t in report.Tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("op", t.Op);
            Longs(w, "shape", t.Shape);
            w.WriteString("dtype", t.DType);
            w.WriteString("format", t.Format);
            w.WriteNumber("block_size", t.BlockSize);
            w.WriteNumber("elements", t.Elements);
            w.WriteNumber("bytes_before", t.BytesBefore);
            w.WriteNumber("bytes_after", t.BytesAfter);
            w.WriteNumber("format_bytes", t.FormatBytes);
            Number(w, "ratio", t.Ratio);
            Number(w, "bits_per_weight", t.BitsPerWeight);
            Number(w, "sqnr_db", t.SqnrDb);
            Number(w, "mse", t.Mse);
            Number(w, "max_abs_error", t.MaxAbsError);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("by_format");
        foreach (var f in report.ByFormat)
        {
            w.WriteStartObject();
            w.WriteString("format", f.Format);
            w.WriteNumber("tensors", f.Tensors);
            w.WriteNumber("elements", f.Elements);
            w.WriteNumber("bytes_before", f.BytesBefore);
            w.WriteNumber("bytes_after", f.BytesAfter);
            Number(w, "ratio", f.Ratio);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("skipped");
        foreach (var s in report.Skipped)
        {
            w.WriteStartObject();
            w.WriteString("name", s.Name);
            w.WriteString("op", s.Op);
            w.WriteString("reason", s.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (report.DataDir is null) w.WriteNull("data_dir"); else w.WriteString("data_dir", report.DataDir);
        WriteOutputs(w, report.Comparison);
        w.WriteEndObject();
    }

    private static void WriteOutputs(Utf8JsonWriter w, ModelComparisonResult? comparison)
    {
        if (comparison is null)
        {
            w.WriteNull("samples");
            w.WriteNull("outputs");
            return;
        }
        w.WriteNumber("samples", comparison.Samples);
        w.WriteStartArray("outputs");
        foreach (var o in comparison.Outputs)
        {
            w.WriteStartObject();
            w.WriteString("name", o.Name);
            w.WriteString("dtype", o.ElementType.OnnxName());
            Longs(w, "shape", o.Shape);
            w.WriteNumber("samples", o.Samples);
            w.WriteNumber("values", o.Values);
            Number(w, "max_abs_error", o.MaxAbsError);
            Number(w, "rel_l2_error", o.RelL2Error);
            Number(w, "cosine", o.Cosine);
            w.WriteBoolean("class_scores", o.IsClassScores);
            w.WriteNumber("positions", o.Positions);
            Number(w, "top1_agreement", o.Top1Agreement);
            Number(w, "mean_kl", o.MeanKl);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Number(Utf8JsonWriter w, string key, double? v)
    {
        if (v is { } d && double.IsFinite(d)) w.WriteNumber(key, d);
        else w.WriteNull(key);
    }

    private static void Longs(Utf8JsonWriter w, string key, IEnumerable<long> values)
    {
        w.WriteStartArray(key);
        foreach (long v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }
}
