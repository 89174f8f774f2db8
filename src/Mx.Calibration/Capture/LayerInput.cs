using System.Globalization;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Capture;

/// <summary>How a layer's input rows are formed from the value it reads.</summary>
public enum LayerInputKind
{
    /// <summary>Rows along one axis of the activation (MatMul A: the last axis, with every leading axis a row; Gemm A: axis 1, or 0 with transA).</summary>
    Rows,

    /// <summary>The im2col rows of a Conv input (one per output position and group).</summary>
    Im2Col,

    /// <summary>Gather indices: each looked-up table row is one output row (the input rows are one-hot).</summary>
    Lookup,
}

/// <summary>
/// The input of one use of a weight, as the layer-local error needs it: which value to capture and how its rows line
/// up with the weight's reduction axis. Uses reading the same value the same way share one <see cref="Key"/>, so
/// their statistics (H, reservoir) are captured once (Q/K/V projections of one input share one H).
/// </summary>
/// <param name="Activation">The value the op reads (its input 0, or the indices of a Gather).</param>
/// <param name="Kind">How rows are formed.</param>
/// <param name="Axis">For <see cref="LayerInputKind.Rows"/>: the activation axis holding the reduction (negative counts from the end).</param>
/// <param name="K">Reduction length per group (the weight layout's K); for a lookup, the table's row count.</param>
/// <param name="Groups">Conv groups (1 otherwise): group g reads channels [g·Cg, (g+1)·Cg) and feeds outputs [g·N/G, (g+1)·N/G).</param>
/// <param name="Conv">The Conv geometry (im2col only).</param>
/// <param name="Scale">Factor of the output error (Gemm alpha²; 1 otherwise).</param>
public sealed record LayerInput(string Activation, LayerInputKind Kind, int Axis, int K, int Groups, ConvGeometry? Conv, double Scale)
{
    /// <summary>Values per captured row: K·Groups (the whole im2col row across groups); a lookup keeps no rows.</summary>
    public int Width => Kind == LayerInputKind.Lookup ? 0 : K * Groups;

    /// <summary>Identifies the captured statistics: the value and how it is read.</summary>
    public string Key => Kind switch
    {
        LayerInputKind.Rows => string.Create(CultureInfo.InvariantCulture, $"{Activation}|rows|{Axis}|{K}"),
        LayerInputKind.Im2Col => $"{Activation}|im2col|{Conv!.Key}|{K}",
        _ => string.Create(CultureInfo.InvariantCulture, $"{Activation}|lookup|{K}"),
    };

    /// <summary>
    /// The input of <paramref name="use"/> reading a weight in <paramref name="layout"/>, or null with the reason when
    /// it cannot be captured (the op is inside a subgraph, or reads a constant).
    /// </summary>
    public static LayerInput? Of(WeightUse use, WeightLayout layout, IReadOnlyList<long> weightShape, Func<string, bool> isConstant, out string? why)
    {
        ArgumentNullException.ThrowIfNull(use);
        ArgumentNullException.ThrowIfNull(layout);
        why = null;
        if (use.Graph.Parent != null)
        {
            why = $"{use.Op} '{use.NodeName}' is inside a subgraph, whose values cannot be graph outputs";
            return null;
        }
        int slot = use.Op == "Gather" ? 1 : 0;
        string activation = use.Node.Input.Count > slot ? use.Node.Input[slot] : "";
        if (activation.Length == 0 || isConstant(activation))
        {
            why = $"{use.Op} '{use.NodeName}' reads a constant input";
            return null;
        }
        switch (use.Op)
        {
            case "MatMul":
                return new LayerInput(activation, LayerInputKind.Rows, -1, layout.K, 1, null, 1);
            case "Gemm":
            {
                bool transA = WeightFinder.GetInt(use.Node, "transA", 0) != 0;
                double alpha = WeightFinder.GetFloat(use.Node, "alpha", 1f);
                return new LayerInput(activation, LayerInputKind.Rows, transA ? 0 : 1, layout.K, 1, null, alpha * alpha);
            }
            case "Conv":
            {
                var conv = ConvGeometry.Of(use.Node, weightShape);
                int cg = (int)weightShape[1];
                return new LayerInput(activation, LayerInputKind.Im2Col, 1, cg * conv.KernelSize, conv.Group, conv, 1);
            }
            case "Gather":
                return new LayerInput(activation, LayerInputKind.Lookup, 0, (int)weightShape[0], 1, null, 1);
            default:
                why = $"{use.Op} '{use.NodeName}' is not a supported op";
                return null;
        }
    }
}
