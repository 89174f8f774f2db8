using Mx.Calibration.Capture;
using Mx.Calibration.Linear;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Selection;

/// <summary>How a layer-local error was computed.</summary>
public enum LocalErrorMethod
{
    /// <summary>tr(Δᵀ H Δ) from the Gram matrix of every calibration row.</summary>
    Gram,

    /// <summary>‖X Δ‖² on the reservoir rows, scaled to the rows the calibration saw.</summary>
    Reservoir,

    /// <summary>Σ count·‖Δ_row‖² over the table rows a Gather looked up.</summary>
    Lookup,

    /// <summary>‖Δ‖² (H taken as the identity): the layer's input could not be captured.</summary>
    WeightOnly,
}

/// <summary>
/// The layer-output error a weight change Δ = W − Q causes at one use, from that use's captured input statistics:
/// Σ over the calibration rows x of ‖x·Δ‖² (times the op's output scale, e.g. Gemm alpha²). For a Conv, each group's
/// outputs see only that group's H. Δ is given in the weight layout's values (the layout the quantizer blocks).
/// </summary>
public static class LocalError
{
    /// <summary>The method <see cref="Compute"/> uses for <paramref name="s"/> (or <see cref="LocalErrorMethod.WeightOnly"/> when null).</summary>
    /// <remarks>
    /// H costs N·K² per candidate, the reservoir N·K·R. H is exact over every row; the reservoir is exact when it holds
    /// every row used. So: a lookup counts rows; the reservoir when it holds every row and is cheaper (R &lt; K), or
    /// when K exceeds <paramref name="maxGramK"/> (very wide layers, where K² per output would dominate); else H.
    /// </remarks>
    public static LocalErrorMethod MethodFor(LayerInputStatistics? s, int maxGramK)
    {
        if (s is null) return LocalErrorMethod.WeightOnly;
        if (s.Input.Kind == LayerInputKind.Lookup) return LocalErrorMethod.Lookup;
        var reservoir = s.Reservoir!;
        bool exactRows = reservoir.Seen == reservoir.Rows.Count;
        if (reservoir.Rows.Count == 0) return LocalErrorMethod.Gram;
        if ((exactRows && reservoir.Rows.Count < s.Input.K) || s.Input.K > maxGramK) return LocalErrorMethod.Reservoir;
        return LocalErrorMethod.Gram;
    }

    /// <summary>The error of <paramref name="delta"/> (values in <paramref name="layout"/>) at a use whose input statistics are <paramref name="s"/>.</summary>
    /// <param name="s">The use's input statistics; null when it could not be captured (the weight-only proxy ‖Δ‖² is returned).</param>
    /// <param name="layout">The weight's MX layout at this use ([K, N] axis 0, or [N, K] axis 1).</param>
    /// <param name="delta">W − Q in that layout.</param>
    /// <param name="method">How to compute it (<see cref="MethodFor"/>).</param>
    /// <param name="hessians">H per group when the Gram method is used (read once by the caller for every candidate).</param>
    public static double Compute(LayerInputStatistics? s, WeightLayout layout, ReadOnlySpan<float> delta, LocalErrorMethod method, IReadOnlyList<double[]>? hessians = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var shape = layout.BlockShape;
        if (shape.Count != 2) throw new ArgumentException($"layout {layout} is not 2-D");
        int k = layout.K;
        switch (method)
        {
            case LocalErrorMethod.WeightOnly:
                return LayerError.SumOfSquares(delta);
            case LocalErrorMethod.Lookup:
                // A Gather table [V, D] is blocked along D (axis 1): its rows are already output-major.
                if (layout.Axis != 1) throw new ArgumentException($"a lookup table's layout {layout} is not blocked along its rows");
                return LayerError.Weighted(delta, k, s!.Counts);
        }
        double[] d = LayerError.OutputMajor(delta, shape[0], shape[1], layout.Axis);
        int n = d.Length / k;
        var input = s!.Input;
        if (input.K != k) throw new ArgumentException($"layer input '{input.Activation}' has K = {input.K}; the weight layout {layout} has {k}");
        int groups = input.Groups, perGroup = n / groups;
        if (perGroup * groups != n) throw new ArgumentException($"{n} outputs do not split into {groups} groups");
        double total = 0;
        for (int g = 0; g < groups; g++)
        {
            var part = groups == 1 ? d : d.AsSpan(g * perGroup * k, perGroup * k).ToArray();
            if (method == LocalErrorMethod.Gram)
            {
                total += LayerError.FromGram(hessians?[g] ?? s.Hessian(g), k, part);
            }
            else
            {
                var reservoir = s.Reservoir!;
                if (reservoir.Rows.Count == 0) continue;
                var rows = new float[(long)reservoir.Rows.Count * k];
                for (int r = 0; r < reservoir.Rows.Count; r++) reservoir.Rows[r].AsSpan(g * k, k).CopyTo(rows.AsSpan(r * k, k));
                total += LayerError.FromRows(rows, k, part);
            }
        }
        if (method == LocalErrorMethod.Reservoir && s.Reservoir!.Rows.Count > 0)
            total *= s.RowsRepresented / s.Reservoir.Rows.Count;
        return total * input.Scale;
    }
}
