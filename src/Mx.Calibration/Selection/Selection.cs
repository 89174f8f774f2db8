using Mx.Calibration.Evaluation;

namespace Mx.Calibration.Selection;

/// <summary>The chosen candidate per weight, with the predicted and verified (measured) output error.</summary>
/// <param name="Choices">Weight name → chosen candidate.</param>
/// <param name="AverageBits">Stored bits of the calibrated weights over their original element count.</param>
/// <param name="Measured">The output error of the whole combination, measured by running the model.</param>
/// <param name="BudgetMet">Whether the verified result meets the budget.</param>
/// <param name="Log">What the search did (rounds, fallbacks), for the report.</param>
public sealed record Selection(IReadOnlyDictionary<string, FormatCandidate> Choices, double AverageBits, OutputError Measured, bool BudgetMet, IReadOnlyList<string> Log);

/// <summary>One uniform configuration (every calibrated weight in one candidate), measured for comparison.</summary>
/// <param name="Candidate">The format.</param>
/// <param name="AverageBits">Average bits per weight.</param>
/// <param name="Measured">Output error of the whole model.</param>
public sealed record UniformBaseline(FormatCandidate Candidate, double AverageBits, OutputError Measured);
