using Mx.Onnx.Diagnostics;
using System.Text.Json.Serialization;
using Mx.Runtime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Bench;

/// <summary>Resident memory of a process serving packed weights, in MiB (VmRSS from /proc/self/status).</summary>
public sealed record ServingMemoryReport(
    [property: JsonPropertyName("layers")] int Layers,
    [property: JsonPropertyName("packed_mib")] double PackedMiB,
    [property: JsonPropertyName("fp32_equivalent_mib")] double Fp32MiB,
    [property: JsonPropertyName("rss_before_session_mib")] double RssBefore,
    [property: JsonPropertyName("rss_after_session_mib")] double RssAfterSession,
    [property: JsonPropertyName("rss_after_run_mib")] double RssAfterRun,
    [property: JsonPropertyName("rss_hwm_mib")] double RssPeak)
{
    /// <summary>Growth of resident memory from before session creation to after the first Run, per packed byte.</summary>
    [JsonPropertyName("growth_per_packed_byte")]
    public double GrowthPerPackedByte => (RssAfterRun - RssBefore) / PackedMiB;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Layers} MXFP4 layers (4096×11008 / 11008×4096): packed weights {PackedMiB:F1} MiB (fp32 would be {Fp32MiB:F0} MiB){Environment.NewLine}" +
        $"VmRSS before session {RssBefore:F1} MiB, after session creation {RssAfterSession:F1} MiB (+{RssAfterSession - RssBefore:F1}), " +
        $"after a Run {RssAfterRun:F1} MiB (+{RssAfterRun - RssBefore:F1}); peak (VmHWM) {RssPeak:F1} MiB{Environment.NewLine}" +
        $"growth / packed bytes = {GrowthPerPackedByte:F2}";
}

/// <summary>
/// <c>mx bench memory</c>: writes a model of <c>layers</c> chained MxMatMul layers (4096→11008→4096→…, MXFP4) whose
/// packed bytes are generated straight into the file (no fp32 weights, nothing kept in managed memory), creates a
/// session, runs it once, and reports VmRSS at each step against the packed byte count.
/// </summary>
public static class ServingMemory
{
    private const int Hidden = 4096, Inner = 11008;

    /// <summary>Runs the check with <paramref name="layers"/> layers.</summary>
    public static ServingMemoryReport Run(int layers)
    {
        var f = MxFormats.Mxfp4E2M1;
        string path = Path.Combine(Path.GetTempPath(), $"mx-bench-memory-{Environment.ProcessId}.onnx");
        long packed = 0;
        var w = new BenchModelWriter().Opset(MxOps.DomainName, MxOps.DomainVersion).Input("X0", 1, 1L, (long)Hidden);
        for (int i = 0; i < layers; i++)
        {
            int k = i % 2 == 0 ? Hidden : Inner, n = i % 2 == 0 ? Inner : Hidden;
            var layout = new MxPackedLayout(f, [n, k], 1, 32);
            var rng = new Random(i);
            w.Initializer($"W{i}_e", 2, [n, layout.RowBytes], layout.ElementBytes, s => RandomBytes(s, rng, layout.ElementBytes, scales: false))
             .Initializer($"W{i}_s", 2, [n, layout.BlocksPerRow], layout.ScaleBytes, s => RandomBytes(s, rng, layout.ScaleBytes, scales: true))
             .Node("MxMatMul", [$"X{i}", $"W{i}_e", $"W{i}_s"], [$"X{i + 1}"], $"layer{i}", MxOps.DomainName,
                ("format", f.Name), ("K", (long)k), ("N", (long)n));
            packed += layout.ElementBytes + layout.ScaleBytes;
        }
        w.Output($"X{layers}", 1, 1L, (long)(layers % 2 == 0 ? Hidden : Inner));
        try
        {
            w.Save(path);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            double before = MiB(ProcessMemory.ResidentBytes());
            using var options = HostTensorSession.CreateOptions();
            using var session = HostTensorSession.FromFile(path, options);
            double afterSession = MiB(ProcessMemory.ResidentBytes());
            var x = new float[Hidden];
            for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(i);
            session.Run(new Dictionary<string, HostTensor> { ["X0"] = HostTensor.FromFloats(x, 1, Hidden) });
            double afterRun = MiB(ProcessMemory.ResidentBytes());
            long fp32 = 4L * Hidden * Inner * layers;
            return new ServingMemoryReport(layers, packed / 1048576.0, fp32 / 1048576.0, before, afterSession, afterRun, MiB(ProcessMemory.PeakResidentBytes()));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void RandomBytes(Stream s, Random rng, long count, bool scales)
    {
        var chunk = new byte[1 << 20];
        for (long done = 0; done < count; done += chunk.Length)
        {
            int len = (int)Math.Min(chunk.Length, count - done);
            rng.NextBytes(chunk.AsSpan(0, len));
            if (scales)   // scales near 2^-4: keeps activations finite through the chain
                for (int i = 0; i < len; i++) chunk[i] = (byte)(119 + chunk[i] % 8);
            s.Write(chunk, 0, len);
        }
    }

    private static double MiB(long bytes) => bytes < 0 ? double.NaN : bytes / 1048576.0;
}
