using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mx.Bench.Decode;

/// <summary>The time of one op type within one run, from ONNX Runtime's profile.</summary>
/// <param name="OpType">The node's op type, as ORT reports it (<c>MxMatMul</c>, <c>MatMulNBits</c>, <c>GroupQueryAttention</c>, …).</param>
/// <param name="Microseconds">Sum of the kernel times of its nodes.</param>
/// <param name="Share">Fraction of the run's total kernel time.</param>
/// <param name="Nodes">Number of node executions.</param>
public sealed record OpTime(
    [property: JsonPropertyName("op")] string OpType,
    [property: JsonPropertyName("us")] double Microseconds,
    [property: JsonPropertyName("share")] double Share,
    [property: JsonPropertyName("nodes")] int Nodes);

/// <summary>One profiled run: its wall time (ORT's <c>model_run</c>), the kernel time within it and the time per op type, largest first.</summary>
public sealed record RunProfile(
    [property: JsonPropertyName("run_us")] double RunMicroseconds,
    [property: JsonPropertyName("kernel_us")] double KernelMicroseconds,
    [property: JsonPropertyName("ops")] IReadOnlyList<OpTime> Ops);

/// <summary>
/// Reads the JSON profile ONNX Runtime writes with <c>SessionOptions.EnableProfiling</c> (Chrome trace events) and
/// sums, per <c>model_run</c>, the <c>*_kernel_time</c> events of its nodes by <c>args.op_name</c>.
/// </summary>
public static class OrtProfileSummary
{
    /// <summary>One <see cref="RunProfile"/> per run in the file, in run order.</summary>
    /// <exception cref="InvalidDataException">The file is not an ORT profile.</exception>
    public static IReadOnlyList<RunProfile> Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var doc = JsonDocument.Parse(stream);
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: not an ONNX Runtime profile (a JSON array of events)");
        var runs = new List<(double Start, double End)>();
        var kernels = new List<(double Ts, double Dur, string Op)>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            string name = e.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
            string cat = e.TryGetProperty("cat", out var c) ? c.GetString() ?? "" : "";
            double ts = e.TryGetProperty("ts", out var t) ? t.GetDouble() : 0, dur = e.TryGetProperty("dur", out var d) ? d.GetDouble() : 0;
            if (cat == "Session" && name == "model_run") runs.Add((ts, ts + dur));
            else if (cat == "Node" && name.EndsWith("_kernel_time", StringComparison.Ordinal)
                     && e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var op))
                kernels.Add((ts, dur, op.GetString() ?? "?"));
        }
        runs.Sort();
        return runs.Select(r =>
        {
            var inRun = kernels.Where(k => k.Ts >= r.Start && k.Ts <= r.End).ToList();
            double total = inRun.Sum(k => k.Dur);
            var ops = inRun.GroupBy(k => k.Op)
                .Select(g => new OpTime(g.Key, g.Sum(k => k.Dur), total > 0 ? g.Sum(k => k.Dur) / total : 0, g.Count()))
                .OrderByDescending(o => o.Microseconds).ToList();
            return new RunProfile(r.End - r.Start, total, ops);
        }).ToList();
    }

    /// <summary>A few lines: the run, then one line per op type down to 1% of the kernel time.</summary>
    public static string Describe(string title, RunProfile p) =>
        $"  {title}: run {p.RunMicroseconds / 1000:F1} ms, kernels {p.KernelMicroseconds / 1000:F1} ms" + Environment.NewLine +
        string.Join(Environment.NewLine, p.Ops.Where(o => o.Share >= 0.01).Select(o => $"    {o.OpType,-28} {o.Microseconds / 1000,10:F2} ms {o.Share * 100,6:F1}%  ({o.Nodes} nodes)"));
}
