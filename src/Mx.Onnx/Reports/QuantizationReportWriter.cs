using System.Text;
using Mx.Onnx.IO;

namespace Mx.Onnx.Reports;

/// <summary>Writes a <see cref="QuantizationReport"/> to a file whose extension picks the form: <c>.md</c>, <c>.json</c> or <c>.html</c>.</summary>
public static class QuantizationReportWriter
{
    /// <summary>The extensions <see cref="Write"/> accepts (<c>.htm</c> and <c>.markdown</c> too).</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".md", ".markdown", ".json", ".html", ".htm"];

    /// <summary>
    /// Writes <paramref name="report"/> to <paramref name="path"/> through a temporary file in the same folder that
    /// replaces the target only when complete.
    /// </summary>
    /// <exception cref="ArgumentException">The extension is not one of <see cref="Extensions"/>; the message names the path.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public static void Write(QuantizationReport report, string path)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        Action<Stream> write = ext switch
        {
            ".json" => s => ReportJsonWriter.Write(report, s),
            ".md" or ".markdown" => s => WriteText(s, w => ReportMarkdownWriter.Write(report, w)),
            ".html" or ".htm" => s => WriteText(s, w => ReportHtmlWriter.Write(report, w)),
            _ => throw new ArgumentException($"{path}: unknown report type '{ext}'; use a .md, .json or .html file name", nameof(path)),
        };
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: folder {dir} does not exist");
        string temp = AtomicFile.TempPathBeside(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                write(stream);
            AtomicFile.Commit(temp, path);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }
    }

    private static void WriteText(Stream stream, Action<TextWriter> write)
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), leaveOpen: true);
        writer.NewLine = "\n";
        write(writer);
    }
}
