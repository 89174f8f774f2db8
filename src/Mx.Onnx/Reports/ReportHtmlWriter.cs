using System.Net;
using System.Text;
using static Mx.Onnx.Reports.ReportText;

namespace Mx.Onnx.Reports;

/// <summary>
/// Writes a <see cref="QuantizationReport"/> as one self-contained HTML page: inline CSS, inline SVG charts, no
/// scripts and no external resources, so it reads offline. Every name from the models is HTML-escaped.
/// </summary>
public static class ReportHtmlWriter
{
    private const string Before = "#9aa5b1", After = "#2f6fde";

    /// <summary>Writes the page to <paramref name="writer"/>.</summary>
    public static void Write(QuantizationReport report, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(writer);
        var m = report.Metadata;
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        sb.Append("<title>MX quantization report: ").Append(E(Path.GetFileName(report.QuantizedModel))).Append("</title>");
        sb.Append("<style>").Append(Css).Append("</style></head><body>");
        sb.Append("<h1>MX quantization report</h1>");
        sb.Append("<p class=\"meta\">").Append(E(report.OriginalModel)).Append(" → ").Append(E(report.QuantizedModel)).Append("<br>");
        sb.Append(E($"{(report.Tool.Length > 0 ? report.Tool : m.Tool)} · emit {m.Emit} · format {m.Format} · block {m.BlockSize} · scale {m.Scale} · rounding {m.Rounding} · activations {m.ActFormat ?? "none"}"));
        sb.Append("</p>");
        Cards(report, sb);
        Charts(report, sb);
        Tables(report, sb);
        sb.Append("<footer>Written by mx report. Weight SQNR compares the weights decoded from the quantized file with the original file's weights.</footer>");
        sb.Append("</body></html>\n");
        writer.Write(sb.ToString());
    }

    private static void Cards(QuantizationReport report, StringBuilder sb)
    {
        sb.Append("<section class=\"cards\">");
        Card(sb, "Model size", $"{Bytes(report.TotalBytesBefore)} → {Bytes(report.TotalBytesAfter)}", $"{Ratio(report.Ratio)} smaller");
        Card(sb, "Bits per weight", Fixed(report.AvgBitsPerWeight, 2),
            Math.Abs(report.AvgBitsPerWeight - report.FormatBitsPerWeight) > 1e-9 ? $"as stored; {Fixed(report.FormatBitsPerWeight, 2)} packed" : "scales included");
        Card(sb, "Quantized tensors", Count(report.Tensors.Count), $"{Count(report.QuantizedWeights)} weights · {report.Skipped.Count} skipped");
        var sqnr = report.Tensors.Select(t => t.SqnrDb).Where(d => !double.IsNaN(d)).ToArray();
        if (sqnr.Length > 0)
            Card(sb, "Weight SQNR", $"{Db(sqnr.Min())} dB", $"worst tensor; median {Db(Median(sqnr))} dB");
        if (report.Comparison is { } c)
        {
            var cls = c.Outputs.FirstOrDefault(o => o.Top1Agreement is not null);
            if (cls is not null)
                Card(sb, "Top-1 agreement", Percent(cls.Top1Agreement!.Value), $"{cls.Name}: {Count(cls.Positions)} positions · KL {General(cls.MeanKl ?? double.NaN)}");
            var first = c.Outputs.FirstOrDefault();
            if (first is not null)
                Card(sb, "Output cosine", Fixed(first.Cosine, 5), $"{first.Name}: rel. L2 error {General(first.RelL2Error)} · {c.Samples} samples");
        }
        sb.Append("</section>");
    }

    private static void Card(StringBuilder sb, string title, string value, string note) =>
        sb.Append("<div class=\"card\"><div class=\"card-title\">").Append(E(title)).Append("</div><div class=\"card-value\">")
          .Append(E(value)).Append("</div><div class=\"card-note\">").Append(E(note)).Append("</div></div>");

    private static void Charts(QuantizationReport report, StringBuilder sb)
    {
        if (report.Tensors.Count == 0) return;
        BarSeries[] beforeAfter = [new("original", Before), new("quantized", After)];
        sb.Append("<h2>Bytes by layer</h2>");
        sb.Append(SvgBarChart.Render("Bytes per tensor before and after quantization", beforeAfter,
            report.Tensors.Select(t => new BarRow(t.Name, [t.BytesBefore, t.BytesAfter], [Bytes(t.BytesBefore), $"{Bytes(t.BytesAfter)} ({Ratio(t.Ratio)})"])).ToArray()));
        sb.Append("<h2>Bytes by format</h2>");
        sb.Append(SvgBarChart.Render("Bytes per MX format before and after quantization", beforeAfter,
            report.ByFormat.Select(f => new BarRow($"{f.Format} ({f.Tensors} tensors)", [f.BytesBefore, f.BytesAfter], [Bytes(f.BytesBefore), $"{Bytes(f.BytesAfter)} ({Ratio(f.Ratio)})"])).ToArray()));
        sb.Append("<h2>Error by layer (weight SQNR, dB; longer is better)</h2>");
        double max = report.Tensors.Select(t => t.SqnrDb).Where(double.IsFinite).DefaultIfEmpty(1).Max();
        sb.Append(SvgBarChart.Render("Weight SQNR per tensor in dB", [new BarSeries("SQNR (dB)", "#2e9d5b")],
            report.Tensors.Select(t => new BarRow(t.Name, [Math.Max(0, t.SqnrDb)], [Db(t.SqnrDb) + " dB"], [SqnrColor(t.SqnrDb)])).ToArray(),
            Math.Max(max, 1)));
        sb.Append("<p class=\"legend-note\"><span class=\"sw bad\"></span>below 10 dB <span class=\"sw warn\"></span>10–20 dB <span class=\"sw good\"></span>20 dB and above</p>");
    }

    private static string SqnrColor(double db) => double.IsNaN(db) || db < 10 ? "#d64545" : db < 20 ? "#e39b2d" : "#2e9d5b";

    private static void Tables(QuantizationReport report, StringBuilder sb)
    {
        sb.Append("<h2>Quantized tensors</h2>");
        if (report.Tensors.Count == 0) sb.Append("<p>None.</p>");
        else
        {
            sb.Append("<table><thead><tr><th>tensor</th><th>op</th><th>shape</th><th>dtype</th><th>format</th><th class=\"n\">bytes before</th><th class=\"n\">bytes after</th><th class=\"n\">ratio</th><th class=\"n\">bits/weight</th><th class=\"n\">SQNR (dB)</th><th class=\"n\">max abs error</th></tr></thead><tbody>");
            foreach (var t in report.Tensors)
                Row(sb, [t.Name, t.Op, Shape(t.Shape), t.DType, t.Format], [Count(t.BytesBefore), Count(t.BytesAfter), Ratio(t.Ratio), Fixed(t.BitsPerWeight, 2), Db(t.SqnrDb), General(t.MaxAbsError)]);
            sb.Append("</tbody></table>");
            sb.Append("<h2>By format</h2><table><thead><tr><th>format</th><th class=\"n\">tensors</th><th class=\"n\">weights</th><th class=\"n\">bytes before</th><th class=\"n\">bytes after</th><th class=\"n\">ratio</th></tr></thead><tbody>");
            foreach (var f in report.ByFormat)
                Row(sb, [f.Format], [Count(f.Tensors), Count(f.Elements), Bytes(f.BytesBefore), Bytes(f.BytesAfter), Ratio(f.Ratio)]);
            sb.Append("</tbody></table>");
        }
        sb.Append("<h2>Skipped</h2>");
        if (report.Skipped.Count == 0) sb.Append("<p>None.</p>");
        else
        {
            sb.Append("<table><thead><tr><th>tensor</th><th>op</th><th>reason</th></tr></thead><tbody>");
            foreach (var s in report.Skipped) Row(sb, [s.Name, s.Op, s.Reason], []);
            sb.Append("</tbody></table>");
        }
        if (report.Comparison is not { } c) return;
        sb.Append("<h2>Outputs (").Append(c.Samples).Append(" samples from ").Append(E(report.DataDir ?? "")).Append(")</h2>");
        sb.Append("<table><thead><tr><th>output</th><th>shape</th><th class=\"n\">max abs error</th><th class=\"n\">rel. L2 error</th><th class=\"n\">cosine</th><th class=\"n\">top-1 agreement</th><th class=\"n\">mean KL (nats)</th></tr></thead><tbody>");
        foreach (var o in c.Outputs)
            Row(sb, [o.Name, Shape(o.Shape)], [General(o.MaxAbsError), General(o.RelL2Error), Fixed(o.Cosine, 6),
                o.Top1Agreement is { } t ? $"{Percent(t)} of {Count(o.Positions)}" : "–", o.MeanKl is { } kl ? General(kl) : "–"]);
        sb.Append("</tbody></table>");
        sb.Append("<p class=\"legend-note\">Top-1 agreement and KL are computed for outputs that look like class scores (floating point, rank ≥ 2, last dimension ≥ 2), per position along the leading axes.</p>");
    }

    private static void Row(StringBuilder sb, string[] text, string[] numbers)
    {
        sb.Append("<tr>");
        foreach (string t in text) sb.Append("<td>").Append(E(t)).Append("</td>");
        foreach (string n in numbers) sb.Append("<td class=\"n\">").Append(E(n)).Append("</td>");
        sb.Append("</tr>");
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private const string Css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px 32px;color:#1f2933;background:#fff;max-width:1200px}
        h1{font-size:26px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e4e7eb;padding-bottom:4px}
        .meta{color:#52606d;font-size:13px;word-break:break-all}
        .cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
        .card{border:1px solid #d9e2ec;border-radius:8px;padding:12px 16px;min-width:190px;background:#f8fafc}
        .card-title{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#627d98}
        .card-value{font-size:22px;font-weight:600;margin:4px 0}.card-note{font-size:12px;color:#52606d}
        svg.chart{max-width:100%;height:auto;font-size:12px}svg .label,svg .value,svg .legend{fill:#1f2933;font-family:inherit}
        svg .value{fill:#52606d;font-size:11px}svg .axis{stroke:#9aa5b1;stroke-width:1}
        table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #e4e7eb;padding:4px 8px;text-align:left}
        th{background:#f0f4f8}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfc}
        td{word-break:break-word;max-width:420px}
        .legend-note{font-size:12px;color:#52606d}.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
        .bad{background:#d64545}.warn{background:#e39b2d}.good{background:#2e9d5b}
        footer{margin-top:32px;font-size:12px;color:#7b8794}
        """;
}
