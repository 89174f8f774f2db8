using static Mx.Onnx.Reports.ReportText;

namespace Mx.Onnx.Reports;

/// <summary>Writes a <see cref="QuantizationReport"/> as GitHub-flavoured Markdown: a summary and tables for a pull request.</summary>
public static class ReportMarkdownWriter
{
    /// <summary>Writes the report to <paramref name="writer"/>.</summary>
    public static void Write(QuantizationReport report, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(writer);
        var m = report.Metadata;
        writer.WriteLine("# MX quantization report");
        writer.WriteLine();
        writer.WriteLine($"- Original: `{Code(report.OriginalModel)}`");
        writer.WriteLine($"- Quantized: `{Code(report.QuantizedModel)}` ({Cell(report.Tool.Length > 0 ? report.Tool : m.Tool)})");
        writer.WriteLine($"- Settings: emit `{Code(m.Emit)}`, format `{Code(m.Format)}`, block {m.BlockSize}, scale `{Code(m.Scale)}`, rounding `{Code(m.Rounding)}`, activations `{Code(m.ActFormat ?? "none")}`");
        writer.WriteLine();
        writer.WriteLine("| | before | after | ratio |");
        writer.WriteLine("|---|---:|---:|---:|");
        writer.WriteLine($"| model files | {Bytes(report.TotalBytesBefore)} | {Bytes(report.TotalBytesAfter)} | {Ratio(report.Ratio)} |");
        long before = report.Tensors.Sum(t => t.BytesBefore), after = report.Tensors.Sum(t => t.BytesAfter);
        writer.WriteLine($"| quantized weights ({report.Tensors.Count} tensors, {Count(report.QuantizedWeights)} values) | {Bytes(before)} | {Bytes(after)} | {Ratio(after == 0 ? 0 : (double)before / after)} |");
        writer.WriteLine();
        writer.WriteLine($"Average bits per quantized weight: **{Fixed(report.AvgBitsPerWeight, 3)}** as stored (scales included)" +
                         (Math.Abs(report.AvgBitsPerWeight - report.FormatBitsPerWeight) > 1e-9 ? $"; {Fixed(report.FormatBitsPerWeight, 3)} in the packed MX layout." : "."));
        writer.WriteLine();
        WriteTensors(report, writer);
        WriteFormats(report, writer);
        WriteSkipped(report, writer);
        WriteOutputs(report, writer);
    }

    private static void WriteTensors(QuantizationReport report, TextWriter writer)
    {
        writer.WriteLine("## Quantized tensors");
        writer.WriteLine();
        if (report.Tensors.Count == 0)
        {
            writer.WriteLine("None.");
            writer.WriteLine();
            return;
        }
        writer.WriteLine("| tensor | op | shape | dtype | format | bytes before | bytes after | ratio | bits/weight | SQNR (dB) |");
        writer.WriteLine("|---|---|---|---|---|---:|---:|---:|---:|---:|");
        foreach (var t in report.Tensors)
            writer.WriteLine($"| `{Code(t.Name)}` | {Cell(t.Op)} | {Shape(t.Shape)} | {Cell(t.DType)} | {Cell(t.Format)} | {Count(t.BytesBefore)} | {Count(t.BytesAfter)} | {Ratio(t.Ratio)} | {Fixed(t.BitsPerWeight, 2)} | {Db(t.SqnrDb)} |");
        writer.WriteLine();
    }

    private static void WriteFormats(QuantizationReport report, TextWriter writer)
    {
        if (report.Tensors.Count == 0) return;
        writer.WriteLine("## By format");
        writer.WriteLine();
        writer.WriteLine("| format | tensors | weights | bytes before | bytes after | ratio |");
        writer.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var f in report.ByFormat)
            writer.WriteLine($"| {Cell(f.Format)} | {f.Tensors} | {Count(f.Elements)} | {Bytes(f.BytesBefore)} | {Bytes(f.BytesAfter)} | {Ratio(f.Ratio)} |");
        writer.WriteLine();
    }

    private static void WriteSkipped(QuantizationReport report, TextWriter writer)
    {
        writer.WriteLine("## Skipped");
        writer.WriteLine();
        if (report.Skipped.Count == 0)
        {
            writer.WriteLine("None.");
            writer.WriteLine();
            return;
        }
        writer.WriteLine("| tensor | op | reason |");
        writer.WriteLine("|---|---|---|");
        foreach (var s in report.Skipped)
            writer.WriteLine($"| `{Code(s.Name)}` | {Cell(s.Op)} | {Cell(s.Reason)} |");
        writer.WriteLine();
    }

    private static void WriteOutputs(QuantizationReport report, TextWriter writer)
    {
        if (report.Comparison is not { } c) return;
        writer.WriteLine($"## Outputs ({c.Samples} samples from `{Code(report.DataDir ?? "")}`)");
        writer.WriteLine();
        writer.WriteLine("| output | shape | max abs error | rel. L2 error | cosine | top-1 agreement | mean KL (nats) |");
        writer.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var o in c.Outputs)
            writer.WriteLine($"| `{Code(o.Name)}` | {Shape(o.Shape)} | {General(o.MaxAbsError)} | {General(o.RelL2Error)} | {Fixed(o.Cosine, 6)} | " +
                             $"{(o.Top1Agreement is { } t ? $"{Percent(t)} of {Count(o.Positions)}" : "–")} | {(o.MeanKl is { } kl ? General(kl) : "–")} |");
        writer.WriteLine();
        writer.WriteLine("Top-1 agreement and KL are given for outputs that look like class scores (floating point, rank ≥ 2, last dimension ≥ 2), per position along the leading axes.");
    }

    // Table cells: a '|' would end the cell, a newline the row, a '<' could start HTML.
    private static string Cell(string s) => s.Replace("\\", "\\\\").Replace("<", "&lt;").Replace("|", "\\|").ReplaceLineEndings(" ");

    // Inside backticks only the '|' (tables) and '`' need care.
    private static string Code(string s) => s.Replace("|", "\\|").Replace("`", "'").ReplaceLineEndings(" ");
}
