namespace Mx.Calibration.Ocs;

/// <summary>How a weight channel split into two halves is divided.</summary>
public enum OcsSplitMode
{
    /// <summary>Two equal halves w/2, w/2.</summary>
    Naive,

    /// <summary>Quantization-aware (Zhao et al.): halves w/2 − Δ/4 and w/2 + Δ/4, Δ the element grid's local step (see <see cref="QaSplit"/>).</summary>
    Qa,
}

/// <summary>Which side of Y = X·W an outlier channel split divides.</summary>
public enum OcsSide
{
    /// <summary>Weight OCS: row j of W is divided into pieces, column j of X is duplicated.</summary>
    Weight,

    /// <summary>Activation OCS: column j of X is divided into pieces (× factor), row j of W is duplicated unchanged.</summary>
    Activation,
}
