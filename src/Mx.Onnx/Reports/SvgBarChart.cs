using System.Globalization;
using System.Net;
using System.Text;

namespace Mx.Onnx.Reports;

/// <summary>One series of a bar chart: its legend label and colour (a CSS colour).</summary>
internal sealed record BarSeries(string Label, string Color);

/// <summary>One row (category) of a bar chart: a value and a value label per series; a colour per bar overrides the series colour.</summary>
internal sealed record BarRow(string Label, double[] Values, string[] ValueLabels, string?[]? Colors = null);

/// <summary>
/// Horizontal grouped bar charts as inline SVG (no scripts): a label column, one bar per series per row, the value
/// printed after each bar. All text is escaped; long labels are shortened with the full text in a tooltip.
/// </summary>
internal static class SvgBarChart
{
    private const int Width = 1000, LabelWidth = 300, BarArea = 560, BarHeight = 13, RowGap = 8, Top = 28;

    /// <summary>The chart as an <c>&lt;svg&gt;</c> element. Values are drawn on a linear scale from 0 to <paramref name="maxValue"/> (default: the largest value).</summary>
    public static string Render(string title, IReadOnlyList<BarSeries> series, IReadOnlyList<BarRow> rows, double? maxValue = null)
    {
        double max = maxValue ?? rows.SelectMany(r => r.Values).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        if (!(max > 0)) max = 1;
        int rowHeight = series.Count * BarHeight + RowGap;
        int height = Top + rows.Count * rowHeight + 8;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {Width} {height}\" width=\"{Width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        sb.Append("<title>").Append(Esc(title)).Append("</title>");
        double x = LabelWidth;
        foreach (var s in series)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{Esc(s.Color)}\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 16}\" y=\"16\" class=\"legend\">{Esc(s.Label)}</text>");
            x += 24 + 8 * s.Label.Length;
        }
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{LabelWidth}\" y1=\"{Top - 4}\" x2=\"{LabelWidth}\" y2=\"{height - 6}\" class=\"axis\"/>");
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            int y = Top + r * rowHeight;
            string label = row.Label.Length > 44 ? row.Label[..20] + "…" + row.Label[^23..] : row.Label;
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth - 8}\" y=\"{y + rowHeight / 2.0 + 1}\" class=\"label\" text-anchor=\"end\"><title>{Esc(row.Label)}</title>{Esc(label)}</text>");
            for (int s = 0; s < series.Count; s++)
            {
                double v = s < row.Values.Length ? row.Values[s] : 0;
                double w = double.IsFinite(v) ? Math.Clamp(v / max, 0, 1) * BarArea : double.IsPositiveInfinity(v) ? BarArea : 0;
                string color = row.Colors?.ElementAtOrDefault(s) ?? series[s].Color;
                int by = y + s * BarHeight;
                sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{LabelWidth}\" y=\"{by}\" width=\"{w:F1}\" height=\"{BarHeight - 2}\" fill=\"{Esc(color)}\"><title>{Esc(row.Label)}: {Esc(series[s].Label)} {Esc(row.ValueLabels.ElementAtOrDefault(s) ?? "")}</title></rect>");
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{LabelWidth + w + 4:F1}\" y=\"{by + BarHeight - 3}\" class=\"value\">{Esc(row.ValueLabels.ElementAtOrDefault(s) ?? "")}</text>");
            }
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
