namespace Mx.Runtime.Formats;

/// <summary>How an element value is rounded to the nearest representable element code.</summary>
public enum MxRounding
{
    /// <summary>Round to nearest; a tie goes to the code with an even last bit (OCP MX v1.0; the default).</summary>
    NearestEven,

    /// <summary>Round to nearest; a tie goes to the larger magnitude (microxcaling's default <c>nearest</c>).</summary>
    NearestAway,
}

/// <summary>How the E8M0 scale of a block is chosen.</summary>
public enum MxScaleMode
{
    /// <summary>
    /// OCP rule: exponent = floor(log2(amax)) − emax of the element, clamped to [−127, 127]. A block's largest value can
    /// saturate (its mantissa may lie above the element's largest mantissa).
    /// </summary>
    Floor,

    /// <summary>
    /// The smallest exponent at which the block's largest magnitude is at most the element's largest normal value
    /// (the floor exponent, or one more), clamped to [−127, 127]; no value saturates except at the clamp.
    /// </summary>
    Ceil,

    /// <summary>
    /// Per block, the candidate exponent among floor − 1, floor and floor + 1 (clamped) with the least sum of squared
    /// errors after dequantization; ties keep the earlier of floor, floor + 1, floor − 1. Still one valid E8M0 byte.
    /// </summary>
    Mse,
}

/// <summary>Which implementation a codec call uses. Every path gives identical bits.</summary>
public enum MxCodecPath
{
    /// <summary>The fastest available on this machine.</summary>
    Auto,

    /// <summary>The plain scalar reference implementation.</summary>
    Scalar,

    /// <summary>The Vector256 (AVX2) implementation; formats or modes it does not cover use the scalar path.</summary>
    Vector256,
}
