using Mx.Calibration.Selection;

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

    /// <summary>Weights with fewer elements are not calibrated (the quantizer's default minimum too). Default 1024.</summary>
    public long MinElements { get; init; } = 1024;

    /// <summary>Receives one line per step, for progress display.</summary>
    public Action<string>? Log { get; init; }
}
