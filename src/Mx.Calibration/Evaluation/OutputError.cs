namespace Mx.Calibration.Evaluation;

/// <summary>
/// How far a model's outputs moved from the float32 reference over the calibration samples.
/// </summary>
/// <param name="Nsr">Noise-to-signal ratio: mean over outputs of ‖candidate − reference‖² / ‖reference‖².</param>
/// <param name="MeanKl">Mean KL(softmax(reference) ‖ softmax(candidate)) over the positions of class-score outputs; null when there are none.</param>
/// <param name="Top1Agreement">Fraction of positions where the arg-max agrees; null when there are no class-score outputs.</param>
public sealed record OutputError(double Nsr, double? MeanKl, double? Top1Agreement)
{
    /// <summary>The output SQNR in dB: −10·log10(<see cref="Nsr"/>) (+∞ when exact).</summary>
    public double SqnrDb => Nsr <= 0 ? double.PositiveInfinity : -10 * Math.Log10(Nsr);

    /// <summary>The value selection minimises: the mean KL when the outputs are class scores, otherwise the NSR.</summary>
    public double Objective => MeanKl ?? Nsr;

    /// <summary>No error at all.</summary>
    public static OutputError Zero { get; } = new(0, null, null);
}
