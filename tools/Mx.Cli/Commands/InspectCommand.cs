using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Mx.Onnx;
using Mx.Onnx.Inspection;

namespace Mx.Cli.Commands;

/// <summary><c>mx inspect MODEL [--json]</c>: what a model holds and which of its weights an MX quantizer can take.</summary>
public static class InspectCommand
{
    private static readonly Argument<string> ModelArgument = new("MODEL") { Description = "The .onnx model file" };
    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print a JSON object instead of a text report" };
    private static readonly Option<int> TopOption = new("--top") { Description = "How many of the largest initializers to list", DefaultValueFactory = _ => 10 };

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var command = new Command("inspect", "Show a model's inputs, outputs, operators, parameters and quantizable weights");
        command.Arguments.Add(ModelArgument);
        command.Options.Add(JsonOption);
        command.Options.Add(TopOption);
        CliContext.SetAction(command, Run);
        return command;
    }

    private static int Run(CliContext ctx)
    {
        string path = ctx.Get(ModelArgument);
        using var model = OnnxModel.Load(path);
        var summary = ModelSummary.Of(model, Math.Max(0, ctx.Get(TopOption)));
        if (ctx.Get(JsonOption)) ctx.Out.WriteLine(ToJson(path, summary));
        else ctx.Out.Write(ToText(path, summary));
        return 0;
    }

    /// <summary>The summary as a JSON object (keys in snake_case).</summary>
    internal static string ToJson(string path, ModelSummary s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("path", path);
            w.WriteNumber("ir_version", s.IrVersion);
            w.WriteString("producer_name", s.ProducerName);
            w.WriteString("producer_version", s.ProducerVersion);
            w.WriteStartObject("opsets");
            foreach (var (domain, version) in s.Opsets) w.WriteNumber(domain.Length == 0 ? "ai.onnx" : domain, version);
            w.WriteEndObject();
            WriteValues(w, "inputs", s.Inputs);
            WriteValues(w, "outputs", s.Outputs);
            w.WriteNumber("node_count", s.NodeCount);
            w.WriteStartObject("op_counts");
            foreach (var (op, count) in s.OpCounts) w.WriteNumber(op, count);
            w.WriteEndObject();
            w.WriteNumber("parameters", s.Parameters);
            w.WriteNumber("initializer_bytes", s.InitializerBytes);
            w.WriteStartArray("by_type");
            foreach (var t in s.ByType)
            {
                w.WriteStartObject();
                w.WriteString("type", t.DataType);
                w.WriteNumber("tensors", t.Tensors);
                w.WriteNumber("parameters", t.Parameters);
                w.WriteNumber("bytes", t.Bytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("largest_initializers");
            foreach (var t in s.LargestInitializers)
            {
                w.WriteStartObject();
                w.WriteString("name", t.Name);
                w.WriteString("type", t.DataType);
                WriteShape(w, t.Shape);
                w.WriteNumber("bytes", t.Bytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("quantizable");
            foreach (var q in s.Quantizable)
            {
                w.WriteStartObject();
                w.WriteString("name", q.Name);
                w.WriteString("op", q.Op);
                w.WriteString("node", q.Node);
                w.WriteString("type", q.DataType);
                WriteShape(w, q.Shape);
                w.WriteNumber("bytes", q.Bytes);
                w.WriteNumber("uses", q.Uses);
                w.WriteString("source", q.Source == Mx.Onnx.Graph.ConstantSource.Initializer ? "initializer" : "constant_node");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteValues(Utf8JsonWriter w, string key, IReadOnlyList<ValueSummary> values)
    {
        w.WriteStartArray(key);
        foreach (var v in values)
        {
            w.WriteStartObject();
            w.WriteString("name", v.Name);
            w.WriteString("type", v.Type);
            w.WriteStartArray("shape");
            foreach (string d in v.Shape)
            {
                if (long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) w.WriteNumberValue(n);
                else w.WriteStringValue(d);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteShape(Utf8JsonWriter w, long[] shape)
    {
        w.WriteStartArray("shape");
        foreach (long d in shape) w.WriteNumberValue(d);
        w.WriteEndArray();
    }

    /// <summary>The summary as an aligned text report.</summary>
    internal static string ToText(string path, ModelSummary s)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"model      {path}");
        sb.AppendLine($"ir_version {s.IrVersion}");
        sb.AppendLine($"producer   {(s.ProducerName + " " + s.ProducerVersion).Trim()}");
        sb.AppendLine($"opsets     {string.Join(", ", s.Opsets.Select(o => $"{(o.Key.Length == 0 ? "ai.onnx" : o.Key)} {o.Value}"))}");
        sb.AppendLine();
        Table(sb, "inputs", ["name", "type", "shape"], s.Inputs.Select(v => new[] { v.Name, v.Type, $"[{string.Join(", ", v.Shape)}]" }));
        Table(sb, "outputs", ["name", "type", "shape"], s.Outputs.Select(v => new[] { v.Name, v.Type, $"[{string.Join(", ", v.Shape)}]" }));
        Table(sb, $"operators ({s.NodeCount} nodes)", ["op", "count"], s.OpCounts.OrderByDescending(o => o.Value).Select(o => new[] { o.Key, N(o.Value) }));
        sb.AppendLine($"parameters {N(s.Parameters)}, initializer bytes {N(s.InitializerBytes)}");
        sb.AppendLine();
        Table(sb, "constants by type", ["type", "tensors", "parameters", "bytes"], s.ByType.Select(t => new[] { t.DataType, N(t.Tensors), N(t.Parameters), N(t.Bytes) }));
        Table(sb, "largest initializers", ["name", "type", "shape", "bytes"], s.LargestInitializers.Select(t => new[] { t.Name, t.DataType, Shape(t.Shape), N(t.Bytes) }));
        Table(sb, $"quantizable weights ({s.Quantizable.Count}, {N(s.Quantizable.Sum(q => q.Bytes))} bytes)", ["name", "op", "type", "shape", "bytes", "uses"],
            s.Quantizable.Select(q => new[] { q.Name, q.Op, q.DataType, Shape(q.Shape), N(q.Bytes), N(q.Uses) }));
        return sb.ToString();
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";

    // Numbers right-aligned, text left-aligned, columns as wide as their widest cell.
    private static void Table(StringBuilder sb, string title, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        sb.AppendLine(title);
        if (all.Count == 0)
        {
            sb.AppendLine("  (none)").AppendLine();
            return;
        }
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Max(r => r[i].Length))).ToArray();
        bool[] numeric = header.Select((_, i) => all.All(r => r[i].Length > 0 && (char.IsDigit(r[i][0]) && !r[i].Contains('[')))).ToArray();
        void Row(string[] cells) =>
            sb.AppendLine("  " + string.Join("  ", cells.Select((c, i) => numeric[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        Row(header);
        foreach (var r in all) Row(r);
        sb.AppendLine();
    }
}
