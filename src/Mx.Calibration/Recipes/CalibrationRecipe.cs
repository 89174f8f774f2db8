using Mx.Calibration.Evaluation;
using Mx.Calibration.Ocs;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Recipes;

/// <summary>The decision for one weight: its format (null settings: float32), what it costs and causes, and its channel split.</summary>
/// <param name="Name">The weight.</param>
/// <param name="Op">The operator that reads it.</param>
/// <param name="Settings">Format, block size, scale mode, rounding; null leaves it in float32.</param>
/// <param name="Bits">Average stored bits per original element.</param>
/// <param name="TensorSqnrDb">The weight's own SQNR in this format (null when not measured or float32).</param>
/// <param name="OutputError">The predicted output error when only this weight is quantized this way: its layer-local error times its measured sensitivity (null when not calibrated).</param>
/// <param name="Ocs">The outlier channel split applied before quantizing; null for none.</param>
/// <param name="OcsVia">How the activation columns were duplicated (<c>gather</c>, <c>producer:NAME</c>).</param>
/// <param name="OutlierBlocksBefore">Blocks whose scale an outlier sets, before the split.</param>
/// <param name="OutlierBlocksAfter">The same after the split.</param>
public sealed record RecipeTensor(string Name, string Op, TensorSettings? Settings, double Bits, double? TensorSqnrDb, OutputError? OutputError,
    ChannelMap? Ocs, string? OcsVia, BlockOutlierCount? OutlierBlocksBefore, BlockOutlierCount? OutlierBlocksAfter)
{
    /// <summary>The format name or <c>fp32</c>.</summary>
    public string FormatName => Settings?.Format.Name ?? "fp32";

    /// <summary>Which side the channel split divides (<see cref="Ocs"/>).</summary>
    public OcsSide OcsSide { get; init; } = OcsSide.Weight;

    /// <summary>How two-piece weight channels were divided (naive halves or quantization-aware).</summary>
    public OcsSplitMode OcsMode { get; init; } = OcsSplitMode.Naive;

    /// <summary>The format the split was planned for (a quantization-aware split's offsets are computed on its grid).</summary>
    public TensorSettings? OcsReference { get; init; }

    /// <summary>The activation the op reads: statistics and, when activation formats were selected, its format.</summary>
    public RecipeActivation? Activation { get; init; }

    /// <summary>The layer's own NSR in this format: Σ‖x·(W − Q)‖² / Σ‖x·W‖² over the calibration rows (null for float32 or when not measured).</summary>
    public double? LocalNsr { get; init; }

    /// <summary>The measured sensitivity: output objective (KL or NSR) per unit of layer-local error (null when not measured).</summary>
    public double? Sensitivity { get; init; }

    /// <summary>How the layer-local error was computed (<c>gram</c>, <c>reservoir</c>, <c>lookup</c>, <c>weight-only</c>, per use).</summary>
    public string? Method { get; init; }
}

/// <summary>A uniform configuration: every calibrated weight (or activation) in one format.</summary>
/// <param name="Format">The format name.</param>
/// <param name="Bits">Average bits per element.</param>
/// <param name="Predicted">The predicted objective.</param>
/// <param name="Measured">The measured output error, or null when this configuration was not run.</param>
public sealed record RecipeUniform(string Format, double Bits, double? Predicted, OutputError? Measured);

/// <summary>What the calibration run cost.</summary>
/// <param name="Seconds">Wall time of the whole run.</param>
/// <param name="CaptureSeconds">Wall time of the capture pass.</param>
/// <param name="CapturePasses">Passes over the samples the capture made (chunks).</param>
/// <param name="SpilledBytes">Statistics spilled to disk.</param>
/// <param name="SensitivityRuns">Whole-model sensitivity runs (weights and activations).</param>
/// <param name="VerificationRuns">Whole-model verification runs (weights and activations).</param>
/// <param name="PeakRssBytes">Peak resident set of the process at the end (−1 where unknown).</param>
public sealed record RecipeCost(double Seconds, double CaptureSeconds, int CapturePasses, long SpilledBytes, int SensitivityRuns, int VerificationRuns, long PeakRssBytes);

/// <summary>The activation input of a weight's op, as calibrated.</summary>
/// <param name="Value">The activation's value name in the original model.</param>
/// <param name="Chosen">Whether an activation format was selected (else only statistics are recorded and the quantizer's <c>--act-format</c> applies).</param>
/// <param name="Settings">The chosen format; null for float32.</param>
/// <param name="Bits">Stored bits per activation element in that format (32 for float32).</param>
/// <param name="SqnrDb">The activation's own SQNR in that format, estimated on the reservoir rows.</param>
/// <param name="OutputError">The output error when only this activation is quantized that way.</param>
/// <param name="Amax">Max |value| seen.</param>
/// <param name="P999">The 99.9th percentile of |value| (log2 histogram, within 2^(1/8)).</param>
/// <param name="OutlierChannels">Channels whose amax is ≥ 4 × the median channel amax.</param>
public sealed record RecipeActivation(string Value, bool Chosen, TensorSettings? Settings, double? Bits, double? SqnrDb, OutputError? OutputError,
    double? Amax, double? P999, IReadOnlyList<int> OutlierChannels)
{
    /// <summary>The format name or <c>fp32</c>.</summary>
    public string FormatName => Settings?.Format.Name ?? "fp32";
}

/// <summary>
/// The result of calibration, as <c>mx quantize --recipe</c> reads it: per weight the format and the channel splits,
/// plus what the choice rests on (data, budget, measured error). See docs/calibration.md for the JSON.
/// </summary>
public sealed record CalibrationRecipe
{
    /// <summary>The recipe format version.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Format version.</summary>
    public int Version { get; init; } = CurrentVersion;
    /// <summary>The model calibrated (as given).</summary>
    public required string Model { get; init; }
    /// <summary>Where the calibration samples came from.</summary>
    public required string DataSource { get; init; }
    /// <summary>Number of samples.</summary>
    public required int Samples { get; init; }
    /// <summary>Whether the samples were random inputs.</summary>
    public required bool RandomData { get; init; }
    /// <summary>The budget (text).</summary>
    public required string Budget { get; init; }
    /// <summary>The bits cap, when that was the budget.</summary>
    public double? MaxBits { get; init; }
    /// <summary>The SQNR floor in dB, when that was the budget.</summary>
    public double? MinSqnrDb { get; init; }
    /// <summary>Candidate names.</summary>
    public required IReadOnlyList<string> Candidates { get; init; }
    /// <summary>What selection minimised (<c>kl</c> or <c>nsr</c>).</summary>
    public required string Objective { get; init; }
    /// <summary>The OCS expand ratio used (0: none).</summary>
    public double OcsRatio { get; init; }
    /// <summary>Average bits per weight of the selection.</summary>
    public required double AverageBits { get; init; }
    /// <summary>Whether the verified result meets the budget.</summary>
    public required bool BudgetMet { get; init; }
    /// <summary>The float32 model's output error (zero) is implied; this is the error of the full selection, measured.</summary>
    public required OutputError Measured { get; init; }
    /// <summary>Per weight.</summary>
    public required IReadOnlyList<RecipeTensor> Tensors { get; init; }
    /// <summary>Uniform configurations: bits, predicted error, and measured error where the verification ran them.</summary>
    public IReadOnlyList<RecipeUniform> Uniform { get; init; } = [];

    /// <summary>The plans the verification ran: predicted against measured.</summary>
    public IReadOnlyList<Selection.VerifiedPlan> Verification { get; init; } = [];

    /// <summary>The predicted objective of the chosen weights.</summary>
    public double? Predicted { get; init; }

    /// <summary>Weights the user's options left out (float32; <c>mx quantize --recipe</c> leaves them alone).</summary>
    public IReadOnlyList<ExcludedWeight> Excluded { get; init; } = [];

    /// <summary>Identifies the model and the options the recipe was made for (<c>mx quantize --auto --recipe</c> reuses a recipe only when it matches).</summary>
    public string? Fingerprint { get; init; }

    /// <summary>The seed of the run.</summary>
    public int? Seed { get; init; }

    /// <summary>What the run cost (null for a recipe written by hand or by an older build).</summary>
    public RecipeCost? Cost { get; init; }
    /// <summary>Notes from the search.</summary>
    public IReadOnlyList<string> Log { get; init; } = [];

    /// <summary>The OCS division mode asked for (<c>naive</c> or <c>qa</c>).</summary>
    public string OcsMode { get; init; } = "naive";

    /// <summary>The activation OCS expand ratio (0: none).</summary>
    public double ActOcsRatio { get; init; }

    /// <summary>The activation budget (text), when activation formats were selected.</summary>
    public string? ActBudget { get; init; }

    /// <summary>The activation bits cap.</summary>
    public double? ActMaxBits { get; init; }

    /// <summary>Activation candidate names.</summary>
    public IReadOnlyList<string> ActCandidates { get; init; } = [];

    /// <summary>Average stored bits per activation element of the activation selection.</summary>
    public double? ActAverageBits { get; init; }

    /// <summary>The output error with the chosen weights and activations quantized together.</summary>
    public OutputError? ActMeasured { get; init; }

    /// <summary>Uniform activation formats (with the chosen weights): predicted, and measured where run.</summary>
    public IReadOnlyList<RecipeUniform> ActUniform { get; init; } = [];

    /// <summary>The activation plans the verification ran.</summary>
    public IReadOnlyList<Selection.VerifiedPlan> ActVerification { get; init; } = [];

    /// <summary>Weights of supported ops that were not calibrated, with the reason (they follow the quantizer's own options).</summary>
    public IReadOnlyList<(string Name, string Op, string Reason)> Skipped { get; init; } = [];
}
