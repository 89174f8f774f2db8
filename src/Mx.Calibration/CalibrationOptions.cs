using Mx.Calibration.Ocs;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;

namespace Mx.Calibration;

/// <summary>The choices of a calibration run.</summary>
public sealed record CalibrationOptions
{
    /// <summary>The budget to meet.</summary>
    public required Budget Budget { get; init; }

    /// <summary>The formats each weight may take. Default <see cref="FormatCandidate.Defaults"/>.</summary>
    public IReadOnlyList<FormatCandidate> Candidates { get; init; } = FormatCandidate.Defaults;

    /// <summary>Outlier channel splitting expand ratio (0: none; e.g. 0.02 splits ⌈0.02·K⌉ channels of each weight).</summary>
    public double OcsRatio { get; init; }

    /// <summary>Also try grouping outlier channels into shared blocks (kept per weight only when it lowers the weight's error).</summary>
    public bool OcsReorder { get; init; } = true;

    /// <summary>Operators whose weights are calibrated (others are left to the quantizer's options); null: every supported op.</summary>
    public IReadOnlySet<string>? Ops { get; init; }

    /// <summary>Weights with fewer elements are not calibrated (the quantizer's default minimum too). Default 1024.</summary>
    public long MinElements { get; init; } = 1024;

    /// <summary>How a weight channel split in two is divided: naive halves, or quantization-aware (tried and kept per weight when it lowers the error). Default <see cref="OcsSplitMode.Qa"/>.</summary>
    public OcsSplitMode OcsMode { get; init; } = OcsSplitMode.Qa;

    /// <summary>
    /// The activation bits budget (average stored bits per activation element, float32 = 32); null: activation formats
    /// are not selected (the quantizer's model-wide <c>--act-format</c> applies).
    /// </summary>
    public Budget? ActBudget { get; init; }

    /// <summary>The formats each activation may take. Default <see cref="DefaultActCandidates"/>.</summary>
    public IReadOnlyList<FormatCandidate> ActCandidates { get; init; } = DefaultActCandidates;

    /// <summary>fp32 (none), MXINT8, MXFP8 E4M3, MXFP6 E2M3, MXFP4.</summary>
    public static IReadOnlyList<FormatCandidate> DefaultActCandidates { get; } = FormatCandidate.Parse("fp32,mxint8,mxfp8_e4m3,mxfp6_e2m3,mxfp4_e2m1");

    /// <summary>Activation OCS expand ratio (0: none): activations with an outlier column (amax ≥ <see cref="ActOcsThreshold"/> × the median column amax) get columns split.</summary>
    public double ActOcsRatio { get; init; }

    /// <summary>An activation column is an outlier when its amax is at least this multiple of the median column amax. Default 4.</summary>
    public float ActOcsThreshold { get; init; } = ChannelSplitPlanner.OutlierFactor;

    /// <summary>Sizes of the statistics' bounded parts.</summary>
    public StatisticsOptions Statistics { get; init; } = new();

    /// <summary>Receives one line per step, for progress display.</summary>
    public Action<string>? Log { get; init; }
}
