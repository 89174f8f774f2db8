using Mx.Calibration.Evaluation;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Selection;

/// <summary>What one candidate costs and causes for one weight.</summary>
/// <param name="Candidate">The format (or fp32).</param>
/// <param name="Bits">Stored bits of the weight in this format (scales included).</param>
/// <param name="TensorSqnrDb">The weight's own SQNR in dB (+∞ for fp32).</param>
/// <param name="Output">The output error when only this weight is quantized this way.</param>
public sealed record CandidateMeasure(FormatCandidate Candidate, long Bits, double TensorSqnrDb, OutputError Output);

/// <summary>A measured weight: its layout, its size, and each candidate's measure.</summary>
/// <param name="Name">The weight's name.</param>
/// <param name="Op">The operator that reads it.</param>
/// <param name="Layout">The MX layout the quantizer uses for it (the first one when its uses need several).</param>
/// <param name="OriginalElements">Elements of the weight before any outlier channel split (the bits budget divides by these).</param>
/// <param name="Measures">One per candidate, in candidate order.</param>
public sealed record WeightSensitivity(string Name, string Op, WeightLayout Layout, long OriginalElements, IReadOnlyList<CandidateMeasure> Measures);
