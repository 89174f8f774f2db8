namespace Mx.Runtime.Formats;

/// <summary>How an MX format's elements encode values.</summary>
public enum MxElementKind
{
    /// <summary>A minifloat: sign, <see cref="MxFormat.ExponentBits"/> exponent bits, <see cref="MxFormat.MantissaBits"/> mantissa bits, subnormals.</summary>
    Float,

    /// <summary>Two's complement integer scaled by 2^−<see cref="MxFormat.MantissaBits"/> (MXINT8: ×2^−6, MXINT4: ×2^−2).</summary>
    Int,

    /// <summary>Shared-microexponent (BDR) format: sign + magnitude per element, a 1-bit micro-exponent per pair, an 8-bit exponent per block.</summary>
    SharedMicroExponent,
}

/// <summary>
/// One MX format: the single place that names it and holds its constants. Every layer (CLI, recipes, op attributes,
/// reports, kernels) identifies formats by <see cref="Name"/> and reads constants from here; nothing re-derives them.
/// </summary>
/// <param name="Name">Stable lower-case name, e.g. <c>mxfp4_e2m1</c>.</param>
/// <param name="Id">Stable small integer (op attributes store it next to the name).</param>
/// <param name="Kind">How elements encode values.</param>
/// <param name="ElementBits">Bits stored per element (sign included).</param>
/// <param name="ExponentBits">Element exponent bits (0 for integer and shared-microexponent kinds).</param>
/// <param name="MantissaBits">Element mantissa bits; for <see cref="MxElementKind.Int"/>, the fraction bits.</param>
/// <param name="ExponentBias">Element exponent bias (floats only).</param>
/// <param name="Emax">Exponent of the largest normal element value: the OCP scale rule subtracts it from floor(log2(amax)).</param>
/// <param name="MaxNormal">Largest finite element magnitude.</param>
/// <param name="DefaultBlockSize">Elements sharing one scale by default (32 for OCP formats, 16 for MX9/6/4).</param>
/// <param name="IsOcp">Defined by the OCP MX v1.0 specification.</param>
public sealed record MxFormat(
    string Name,
    int Id,
    MxElementKind Kind,
    int ElementBits,
    int ExponentBits,
    int MantissaBits,
    int ExponentBias,
    int Emax,
    double MaxNormal,
    int DefaultBlockSize,
    bool IsOcp)
{
    /// <summary>Elements per micro-exponent sub-block (2 for MX9/6/4, 0 when the format has none).</summary>
    public int SubBlockSize => Kind == MxElementKind.SharedMicroExponent ? 2 : 0;

    /// <summary>Whether the element encoding has NaN codes (only FP8 E4M3 and E5M2) and infinities (E5M2).</summary>
    public bool ElementHasNaN => Name is "mxfp8_e4m3" or "mxfp8_e5m2";

    /// <inheritdoc/>
    public override string ToString() => Name;
}
