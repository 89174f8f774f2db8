using System.Globalization;

namespace Mx.Onnx.Reports;

/// <summary>Number formatting shared by the Markdown and HTML writers (invariant culture).</summary>
internal static class ReportText
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>A byte count for people: <c>1,234 B</c>, <c>12.3 KiB</c>, <c>4.56 MiB</c>, <c>1.23 GiB</c>.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (Math.Abs(bytes) < 1024) return bytes.ToString("N0", Inv) + " B";
        double v = bytes;
        int u = -1;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return v.ToString(v >= 100 ? "F0" : v >= 10 ? "F1" : "F2", Inv) + " " + units[u];
    }

    /// <summary>An integer with thousands separators.</summary>
    public static string Count(long n) => n.ToString("N0", Inv);

    /// <summary>A ratio such as <c>3.98×</c>.</summary>
    public static string Ratio(double r) => r.ToString("F2", Inv) + "×";

    /// <summary>A value in dB (<c>∞</c> for exact, <c>NaN</c>).</summary>
    public static string Db(double db) => double.IsPositiveInfinity(db) ? "∞" : double.IsNaN(db) ? "NaN" : db.ToString("F2", Inv);

    /// <summary>Fixed decimals.</summary>
    public static string Fixed(double v, int decimals) => double.IsNaN(v) ? "NaN" : double.IsInfinity(v) ? (v > 0 ? "∞" : "−∞") : v.ToString("F" + decimals, Inv);

    /// <summary>General format with <paramref name="digits"/> significant digits.</summary>
    public static string General(double v, int digits = 4) =>
        double.IsNaN(v) ? "NaN" : double.IsInfinity(v) ? (v > 0 ? "∞" : "−∞") : v.ToString("G" + digits, Inv);

    /// <summary>A fraction as a percentage: <c>98.5%</c>.</summary>
    public static string Percent(double v) => double.IsNaN(v) ? "NaN" : (100 * v).ToString("F1", Inv) + "%";

    /// <summary>A shape: <c>[128, 256]</c>.</summary>
    public static string Shape(IEnumerable<long> dims) => "[" + string.Join(", ", dims) + "]";
}
