namespace Mx.Onnx.Quantization;

/// <summary>What the plan decided for one weight: the settings to quantize it with, or why it is left alone.</summary>
/// <param name="Settings">Format, block size, scale mode and rounding; null when skipped.</param>
/// <param name="SkipReason">Why the weight stays float32; null when quantized.</param>
public sealed record PlanDecision(TensorSettings? Settings, string? SkipReason)
{
    /// <summary>Quantize with <paramref name="settings"/>.</summary>
    public static PlanDecision Quantize(TensorSettings settings) => new(settings, null);

    /// <summary>Leave the weight alone, saying why.</summary>
    public static PlanDecision Skip(string reason) => new(null, reason);
}

/// <summary>
/// Decides, per weight, whether and how it is quantized. The default plan applies <see cref="QuantizationOptions"/>
/// (exclusions, operator filter, minimum size, default settings); per-tensor overrides (a recipe mapping tensor names
/// to settings) take precedence over the default settings and the minimum size, but not over exclusions.
/// </summary>
public sealed class QuantizationPlan
{
    private readonly Dictionary<string, TensorSettings?> _overrides;

    /// <summary>A plan that applies <paramref name="options"/> to every weight.</summary>
    public QuantizationPlan(QuantizationOptions options)
        : this(options, new Dictionary<string, TensorSettings?>(StringComparer.Ordinal))
    {
    }

    private QuantizationPlan(QuantizationOptions options, Dictionary<string, TensorSettings?> overrides)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (string op in options.Ops)
            if (!QuantizationOptions.SupportedOps.Contains(op))
                throw new ArgumentException($"unsupported op '{op}' in the op list; supported: {string.Join(", ", QuantizationOptions.SupportedOps)}");
        Options = options;
        _overrides = overrides;
    }

    /// <summary>The model-wide options.</summary>
    public QuantizationOptions Options { get; }

    /// <summary>The per-tensor overrides: tensor name → settings, or null to leave that tensor alone.</summary>
    public IReadOnlyDictionary<string, TensorSettings?> Overrides => _overrides;

    /// <summary>
    /// Per weight, the second moment of its input along K (E[x_k²], the diagonal of H = XᵀX up to a factor), used to
    /// weigh block pruning; empty without calibration data.
    /// </summary>
    public IReadOnlyDictionary<string, double[]> InputSecondMoments { get; private init; } = new Dictionary<string, double[]>(StringComparer.Ordinal);

    /// <summary>A copy of this plan that weighs pruning by <paramref name="moments"/> (weight name → E[x_k²] per K index).</summary>
    public QuantizationPlan WithInputSecondMoments(IReadOnlyDictionary<string, double[]> moments) =>
        new(Options, new Dictionary<string, TensorSettings?>(_overrides, StringComparer.Ordinal)) { InputSecondMoments = moments };

    /// <summary>A copy of this plan with per-tensor settings (null: skip the tensor) added or replaced.</summary>
    public QuantizationPlan WithOverrides(IEnumerable<KeyValuePair<string, TensorSettings?>> overrides)
    {
        var copy = new Dictionary<string, TensorSettings?>(_overrides, StringComparer.Ordinal);
        foreach (var (name, settings) in overrides) copy[name] = settings;
        return new QuantizationPlan(Options, copy) { InputSecondMoments = InputSecondMoments };
    }

    /// <summary>The decision for <paramref name="candidate"/>; structural problems (<see cref="WeightCandidate.Problem"/>) always skip.</summary>
    public PlanDecision Resolve(WeightCandidate candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (candidate.Problem != null) return PlanDecision.Skip(candidate.Problem);
        foreach (var regex in Options.Exclude)
            if (regex.IsMatch(candidate.Name))
                return PlanDecision.Skip($"excluded by --exclude '{regex}'");
        var notSelected = candidate.Uses.Select(u => u.Op).Distinct().Where(op => !Options.Ops.Contains(op)).ToList();
        if (notSelected.Count > 0)
            return PlanDecision.Skip($"used by {string.Join(", ", notSelected)}, which is not in the op list ({string.Join(",", Options.Ops.Order(StringComparer.Ordinal))})");
        if (_overrides.TryGetValue(candidate.Name, out var forced))
            return forced is null ? PlanDecision.Skip("left in float32 by the per-tensor settings") : PlanDecision.Quantize(forced);
        if (candidate.ElementCount < Options.MinElements)
            return PlanDecision.Skip($"{candidate.ElementCount} elements, below the minimum of {Options.MinElements}");
        return PlanDecision.Quantize(Options.DefaultSettings);
    }
}
