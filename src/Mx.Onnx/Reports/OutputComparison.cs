using Mx.Runtime;

namespace Mx.Onnx.Reports;

/// <summary>
/// How one model output of a candidate (quantized) model differs from the reference (original) over a set of samples.
/// All sums run over every element of every sample (see docs/report-schema.md for the definitions).
/// </summary>
/// <param name="Name">The output's name.</param>
/// <param name="ElementType">The output's element type.</param>
/// <param name="Shape">The reference output's shape on the first sample.</param>
/// <param name="Samples">Samples compared.</param>
/// <param name="Values">Elements compared (all samples).</param>
/// <param name="MaxAbsError">max |candidate − reference|.</param>
/// <param name="RelL2Error">‖candidate − reference‖₂ / ‖reference‖₂ (0 when both are zero, +∞ when only the reference is).</param>
/// <param name="Cosine">⟨candidate, reference⟩ / (‖candidate‖₂ ‖reference‖₂) over the flattened outputs (1 when both are zero, 0 when one is).</param>
/// <param name="IsClassScores">Whether the output looks like class scores: a floating-point tensor of rank ≥ 2 whose last dimension is ≥ 2.</param>
/// <param name="Positions">For class scores: the number of score vectors (all positions of all samples along the leading axes).</param>
/// <param name="Top1Agreement">For class scores: the fraction of positions where both models' arg-max (first maximum) is the same class.</param>
/// <param name="MeanKl">For class scores: the mean over positions of KL(softmax(reference) ‖ softmax(candidate)) in nats.</param>
public sealed record OutputComparison(
    string Name, TensorElementType ElementType, long[] Shape, int Samples, long Values,
    double MaxAbsError, double RelL2Error, double Cosine,
    bool IsClassScores, long Positions, double? Top1Agreement, double? MeanKl)
{
    /// <summary>The rule for <see cref="IsClassScores"/>: floating point, rank ≥ 2, last dimension ≥ 2.</summary>
    public static bool LooksLikeClassScores(TensorElementType type, ReadOnlySpan<long> shape) =>
        type is TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Double
        && shape.Length >= 2 && shape[^1] >= 2;
}

/// <summary>The result of <see cref="ModelComparison.Compare"/>: one <see cref="OutputComparison"/> per output of the reference model.</summary>
/// <param name="Samples">Samples run through both models.</param>
/// <param name="Outputs">Per output, in the reference model's output order.</param>
public sealed record ModelComparisonResult(int Samples, IReadOnlyList<OutputComparison> Outputs);
