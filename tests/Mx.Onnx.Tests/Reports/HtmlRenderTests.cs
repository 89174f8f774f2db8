using System.Diagnostics;
using Mx.Onnx.Reports;
using static Mx.Onnx.Tests.Reports.ReportTestSupport;

namespace Mx.Onnx.Tests.Reports;

/// <summary>
/// Renders the HTML report in a real browser (Debian's chromium, headless) and checks the screenshot: the expected
/// size, not blank, and the chart colours present (so the inline SVG drew). Skipped, with the reason, only when chromium
/// is not installed and could not be (test.sh and scripts/check-report-render.sh install it with apt-get). Set MX_REPORT_SCREENSHOT to keep the PNG at that path.
/// </summary>
public class HtmlRenderTests
{
    private const string Chromium = "/usr/bin/chromium";
    private const int Width = 1280, Height = 2000;

    [Test]
    public void Report_renders_in_headless_chromium()
    {
        // test.sh installs chromium when apt can get it and says here why it could not.
        if (!File.Exists(Chromium))
            Assert.Ignore(Environment.GetEnvironmentVariable("MX_CHROMIUM_UNAVAILABLE") is { Length: > 0 } why
                ? $"{Chromium} is not installed: {why}"
                : $"{Chromium} is not installed; ./test.sh or scripts/check-report-render.sh installs Debian's chromium");
        string dir = TempDir();
        string html = Path.Combine(dir, "report.html");
        QuantizationReportWriter.Write(ReportWriterTests.Synthetic("fc1.weight", sqnr: 25, tensors: 12), html);
        string png = Environment.GetEnvironmentVariable("MX_REPORT_SCREENSHOT") is { Length: > 0 } keep ? Path.GetFullPath(keep) : Path.Combine(dir, "report.png");
        if (File.Exists(png)) File.Delete(png);

        Screenshot(html, png, dir);

        var image = PngImage.Read(png);
        Assert.That((image.Width, image.Height), Is.EqualTo((Width, Height)));
        var colours = new HashSet<int>();
        long nonWhite = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.Pixel(x, y);
                colours.Add(r << 16 | g << 8 | b);
                if (r < 240 || g < 240 || b < 240) nonWhite++;
            }
        Assert.That(colours.Count, Is.GreaterThan(50), "text, cards and charts give many colours");
        Assert.That(nonWhite, Is.GreaterThan(Width * Height / 100), "more than 1% of the page is drawn");
        Assert.That(colours, Does.Contain(0x2f6fde), "quantized-bytes bars (#2f6fde) drawn");
        Assert.That(colours, Does.Contain(0x9aa5b1), "original-bytes bars (#9aa5b1) drawn");
        Assert.That(colours, Does.Contain(0x2e9d5b), "SQNR bars (#2e9d5b) drawn");
    }

    private static void Screenshot(string html, string png, string dir)
    {
        string profile = Path.Combine(dir, "profile");
        Directory.CreateDirectory(profile);
        var psi = new ProcessStartInfo(Chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--hide-scrollbars", $"--user-data-dir={profile}", $"--screenshot={png}", $"--window-size={Width},{Height}",
                     new Uri(html).AbsoluteUri,
                 })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish within 120 s");
        }
        Assert.That(File.Exists(png), Is.True, $"chromium wrote no screenshot (exit {p.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}
