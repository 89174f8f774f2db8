using System.Text.RegularExpressions;
using Mx.Calibration.Capture;
using Mx.Calibration.Ocs;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;

namespace Mx.Calibration;

/// <summary>Where a calibration run is: the stage, and how far it got in it.</summary>
/// <param name="Stage">capture, local errors, sensitivity, verification, activations.</param>
/// <param name="Done">Steps done in the stage.</param>
/// <param name="Total">Steps of the stage.</param>
public sealed record CalibrationProgress(string Stage, int Done, int Total);

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

    /// <summary>Operators whose weights are calibrated (ONNX Runtime's op_types_to_quantize; others are left to the quantizer's options); null: every supported op.</summary>
    public IReadOnlySet<string>? Ops { get; init; }

    /// <summary>Node names whose weights are left alone (ONNX Runtime's nodes_to_exclude): the recipe keeps them float32.</summary>
    public IReadOnlyCollection<string> NodesToExclude { get; init; } = [];

    /// <summary>Weights whose name matches one of these are left alone (the recipe keeps them float32).</summary>
    public IReadOnlyList<Regex> Exclude { get; init; } = [];

    /// <summary>A node name, pattern or op type that matches nothing is an error (otherwise it is reported in the recipe's log).</summary>
    public bool Strict { get; init; }

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

    /// <summary>Sizes of the activation statistics' bounded parts.</summary>
    public StatisticsOptions Statistics { get; init; } = new();

    /// <summary>Sizes and memory of the capture pass.</summary>
    public CaptureOptions Capture { get; init; } = new();

    /// <summary>Seed of every random choice (row subsets, reservoirs): a run is reproducible for a given seed. Overrides the seeds of <see cref="Capture"/> and <see cref="Statistics"/>.</summary>
    public int? Seed { get; init; }

    /// <summary>
    /// Most whole-model sensitivity runs (one per weight up to this; beyond it, contiguous groups of weights in graph
    /// order share one). Default 32: with the verification, about 40 whole-model runs however large the model.
    /// </summary>
    public int MaxSensitivityRuns { get; init; } = 32;

    /// <summary>Samples each sensitivity run uses (the first ones; null: all). Default 8. Verification always runs every sample.</summary>
    public int? SensitivitySamples { get; init; } = 8;

    /// <summary>Above this reduction length a candidate's layer error is computed on the reservoir rows rather than from H. Default 4096.</summary>
    public int MaxGramK { get; init; } = 4096;

    /// <summary>Receives one line per step (what ran, what was chosen).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Receives progress (stage, done, total), for progress bars.</summary>
    public Action<CalibrationProgress>? Progress { get; init; }
}
