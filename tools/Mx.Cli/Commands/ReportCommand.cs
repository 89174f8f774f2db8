using System.CommandLine;
using Mx.Onnx.Reports;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx report ORIGINAL QUANTIZED [--data DIR] -o PATH</c>: what quantization did to a model — bytes and weight SQNR
/// per tensor (decoded from the quantized file), file sizes, and with <c>--data</c> the output error on samples —
/// written as Markdown, JSON or HTML by the output's extension.
/// </summary>
public static class ReportCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var original = new Argument<string>("original") { Description = "The original ONNX model" };
        var quantized = new Argument<string>("quantized") { Description = "The model written by mx quantize (with mx.quantization metadata)" };
        var data = new Option<string?>("--data", "-d") { Description = "A folder of <input name>.npy files (first axis = samples) to run both models on" };
        var output = new Option<string>("--output", "-o") { Description = "The report file: .md, .json or .html", Required = true };
        var command = new Command("report", "Report model size, weight error and (with --data) output error of a quantized model against its original.")
        {
            original, quantized, data, output,
        };
        CliContext.SetAction(command, ctx =>
        {
            string path = ctx.Get(output);
            string ext = Path.GetExtension(path).ToLowerInvariant();
            if (!QuantizationReportWriter.Extensions.Contains(ext))
                throw new CliException($"{path}: unknown report type '{ext}'; use a .md, .json or .html file name", 2);
            foreach (string model in new[] { ctx.Get(original), ctx.Get(quantized) })
                if (!File.Exists(model)) throw new CliException($"model file not found: {model}");
            var report = QuantizationReport.Create(ctx.Get(original), ctx.Get(quantized), ctx.Get(data));
            QuantizationReportWriter.Write(report, path);
            ctx.Out.WriteLine($"{path}: {report.Tensors.Count} tensors quantized, {report.Skipped.Count} skipped; " +
                              $"{report.TotalBytesBefore:N0} → {report.TotalBytesAfter:N0} bytes ({report.Ratio:F2}x), {report.AvgBitsPerWeight:F2} bits per weight");
            if (report.Comparison is { } c)
                foreach (var o in c.Outputs)
                    ctx.Out.WriteLine($"  {o.Name}: cosine {o.Cosine:F6}, rel. L2 {o.RelL2Error:G4}" +
                                      (o.Top1Agreement is { } t ? $", top-1 agreement {100 * t:F1}% of {o.Positions}, mean KL {o.MeanKl:G4}" : ""));
            return 0;
        });
        return command;
    }
}
