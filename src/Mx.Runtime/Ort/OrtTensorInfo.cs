namespace Mx.Runtime.Ort;

/// <summary>
/// A session input or output: its name, element type and shape. A dynamic dimension is -1 in <see cref="Shape"/>,
/// and its symbolic name (e.g. <c>batch</c>), when the model gives one, is in <see cref="SymbolicDims"/> at the same
/// position (empty string otherwise). A value that is not a tensor (sequence, map) has <see cref="IsTensor"/> false,
/// <see cref="TensorElementType.Undefined"/> and an empty shape.
/// </summary>
public sealed record OrtTensorInfo(string Name, bool IsTensor, TensorElementType ElementType, long[] Shape, string[] SymbolicDims)
{
    /// <summary>E.g. <c>Input3: float[1, 1, 28, 28]</c>, with symbolic names for dynamic dimensions (<c>?</c> when unnamed).</summary>
    public override string ToString()
    {
        if (!IsTensor) return $"{Name}: (not a tensor)";
        var dims = Shape.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : SymbolicDims[i].Length > 0 ? SymbolicDims[i] : "?");
        return $"{Name}: {ElementType.OnnxName()}[{string.Join(", ", dims)}]";
    }

    /// <summary>Whether <paramref name="shape"/> fits this shape (same rank, equal wherever this one is fixed).</summary>
    public bool Accepts(ReadOnlySpan<long> shape)
    {
        if (shape.Length != Shape.Length) return false;
        for (int i = 0; i < shape.Length; i++)
            if (Shape[i] >= 0 && Shape[i] != shape[i]) return false;
        return true;
    }
}
