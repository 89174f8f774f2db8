namespace Mx.Runtime.Ort;

/// <summary>ORT's <c>GraphOptimizationLevel</c>.</summary>
public enum OrtGraphOptimizationLevel
{
    DisableAll = 0,
    Basic = 1,
    Extended = 2,
    Layout = 3,
    All = 99,
}

/// <summary>ORT's <c>ExecutionMode</c>: whether independent nodes may run at the same time on the inter-op pool.</summary>
public enum OrtExecutionMode
{
    Sequential = 0,
    Parallel = 1,
}

/// <summary>
/// How to create an <see cref="OrtSession"/>. A plain managed description, applied to fresh native session options
/// each time a session is created, so one instance may be reused and changed between sessions.
/// </summary>
public sealed class OrtSessionOptions
{
    /// <summary>Threads of the session's intra-op pool (within one node); null or 0 lets ORT choose (one per core).</summary>
    public int? IntraOpThreads { get; set; }

    /// <summary>Threads of the inter-op pool (used with <see cref="OrtExecutionMode.Parallel"/>); null or 0 lets ORT choose.</summary>
    public int? InterOpThreads { get; set; }

    /// <summary>Graph optimization level; ORT's default (<see cref="OrtGraphOptimizationLevel.All"/>) when null.</summary>
    public OrtGraphOptimizationLevel? GraphOptimizationLevel { get; set; }

    /// <summary>Execution mode; sequential when null.</summary>
    public OrtExecutionMode? ExecutionMode { get; set; }

    /// <summary>
    /// Session configuration entries passed to <c>AddSessionConfigEntry</c>, e.g.
    /// <c>session.qdq_matmulnbits_accuracy_level</c> = <c>0</c>.
    /// </summary>
    public Dictionary<string, string> ConfigEntries { get; } = new(StringComparer.Ordinal);

    /// <summary>Custom-op domains to register. Sessions keep them alive for as long as they live.</summary>
    public List<CustomOpDomain> CustomOpDomains { get; } = [];

    /// <summary>Creates native session options reflecting this object; the caller releases them.</summary>
    internal unsafe nint CreateNative()
    {
        OrtNative.Check(OrtNative.CreateSessionOptions(out nint options), "creating session options");
        try
        {
            if (IntraOpThreads is int intra)
                OrtNative.Check(OrtNative.SetIntraOpNumThreads(options, Checked(intra, nameof(IntraOpThreads))), "setting intra-op threads");
            if (InterOpThreads is int inter)
                OrtNative.Check(OrtNative.SetInterOpNumThreads(options, Checked(inter, nameof(InterOpThreads))), "setting inter-op threads");
            if (GraphOptimizationLevel is { } level)
                OrtNative.Check(OrtNative.SetSessionGraphOptimizationLevel(options, (int)level), $"setting graph optimization level {level}");
            if (ExecutionMode is { } mode)
                OrtNative.Check(OrtNative.SetSessionExecutionMode(options, (int)mode), $"setting execution mode {mode}");
            foreach (var (key, value) in ConfigEntries)
            {
                fixed (byte* k = OrtNative.Utf8Z(key))
                fixed (byte* v = OrtNative.Utf8Z(value))
                    OrtNative.Check(OrtNative.AddSessionConfigEntry(options, k, v), $"setting session config entry '{key}' = '{value}'");
            }
            foreach (var domain in CustomOpDomains)
                OrtNative.Check(OrtNative.AddCustomOpDomain(options, domain.Handle), $"adding custom-op domain '{domain.Name}'");
            return options;
        }
        catch
        {
            OrtNative.ReleaseSessionOptions(options);
            throw;
        }
    }

    private static int Checked(int threads, string what) =>
        threads >= 0 ? threads : throw new ArgumentOutOfRangeException(what, threads, "thread count must be 0 (ORT chooses) or positive");
}
