using Mx.Calibration.Evaluation;

namespace Mx.Calibration.Selection;

/// <summary>The chosen candidate per tensor, with the predicted and the verified (measured) output error.</summary>
/// <param name="Choices">Tensor name → chosen candidate.</param>
/// <param name="AverageBits">Stored bits of the calibrated tensors over their original element count.</param>
/// <param name="Measured">The output error of the whole combination, measured by running the model.</param>
/// <param name="BudgetMet">Whether the verified result meets the budget.</param>
/// <param name="Log">What the search did (plans, fallbacks), for the report.</param>
public sealed record Selection(IReadOnlyDictionary<string, FormatCandidate> Choices, double AverageBits, OutputError Measured, bool BudgetMet, IReadOnlyList<string> Log)
{
    /// <summary>The plans the verification ran, predicted against measured, in the order they ran.</summary>
    public IReadOnlyList<VerifiedPlan> Verified { get; init; } = [];

    /// <summary>The predicted objective of the chosen combination (Σ of the tensors' predicted errors).</summary>
    public double Predicted { get; init; }
}

/// <summary>One uniform configuration (every calibrated tensor in one candidate): bits, predicted error and, when it was run, measured error.</summary>
/// <param name="Candidate">The format.</param>
/// <param name="AverageBits">Average bits per element.</param>
/// <param name="Predicted">The predicted objective.</param>
/// <param name="Measured">The measured output error, or null when this configuration was not run.</param>
public sealed record UniformBaseline(FormatCandidate Candidate, double AverageBits, double Predicted, OutputError? Measured);

/// <summary>A combination the verification ran.</summary>
/// <param name="Label">What it is (<c>knapsack</c>, <c>fallback 1</c>, <c>uniform mxint8</c>, <c>round 2</c>).</param>
/// <param name="AverageBits">Its bits per element.</param>
/// <param name="Predicted">Its predicted objective (NSR under --min-sqnr).</param>
/// <param name="Measured">Its measured output error.</param>
/// <param name="Taken">Whether it is the result.</param>
/// <param name="Note">Why it ran or why it was (not) taken.</param>
public sealed record VerifiedPlan(string Label, double AverageBits, double Predicted, OutputError Measured, bool Taken, string Note);
