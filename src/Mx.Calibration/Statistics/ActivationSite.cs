using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Statistics;

/// <summary>
/// The activation input of a quantizable op: input A of a MatMul or Gemm, or input X of a Conv, whose weight (input B
/// or W) is a main-graph constant the quantizer would quantize. MX blocks of the activation run along the reduction
/// axis: the last axis for MatMul and Gemm (axis 0 for Gemm with transA = 1), the channel axis 1 for Conv. The
/// quantizer's per-tensor activation format is set on the weight, so a site is named by its weight.
/// </summary>
/// <param name="Weight">The weight the op reads (names the site).</param>
/// <param name="Op">MatMul, Gemm or Conv.</param>
/// <param name="Node">The op.</param>
/// <param name="Activation">The activation value the op reads (its input 0).</param>
/// <param name="Axis">The reduction axis of the activation.</param>
public sealed record ActivationSite(string Weight, string Op, NodeProto Node, string Activation, int Axis)
{
    /// <summary>The op's name for messages (its first output when unnamed).</summary>
    public string NodeName => Node.Name.Length > 0 ? Node.Name : Node.Output.FirstOrDefault() ?? "";

    /// <summary>
    /// The sites of <paramref name="model"/>: one per weight read by exactly one MatMul/Gemm/Conv of the main graph as its
    /// weight input. <paramref name="skipped"/> receives weights of those ops that have no single site, with the reason.
    /// </summary>
    public static IReadOnlyList<ActivationSite> Find(OnnxModel model, ICollection<(string Weight, string Reason)>? skipped = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new List<ActivationSite>();
        foreach (var c in WeightFinder.Find(model).Candidates)
        {
            var uses = c.Uses.Where(u => u.Op is "MatMul" or "Gemm" or "Conv").ToList();
            if (uses.Count == 0 || c.Problem != null) continue;
            if (c.Uses.Count != 1)
            {
                skipped?.Add((c.Name, $"read by {c.Uses.Count} nodes; the activation formats of a shared weight's ops are not calibrated"));
                continue;
            }
            var u = uses[0];
            if (!ReferenceEquals(u.Graph.Proto, model.Proto.Graph))
            {
                skipped?.Add((c.Name, "its op is inside a subgraph (If/Loop/Scan); activations there are not captured"));
                continue;
            }
            if (u.InputIndex != 1 || u.Node.Input.Count < 1 || u.Node.Input[0].Length == 0) continue;
            int axis = u.Op switch
            {
                "Conv" => 1,
                "Gemm" => u.Node.Attribute.FirstOrDefault(x => x.Name == "transA") is { I: not 0 } ? 0 : -1,
                _ => -1,
            };
            result.Add(new ActivationSite(c.Name, u.Op, u.Node, u.Node.Input[0], axis));
        }
        return result;
    }
}
