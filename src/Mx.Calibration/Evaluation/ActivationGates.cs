using Google.Protobuf;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Ops;

namespace Mx.Calibration.Evaluation;

/// <summary>
/// Makes every activation format of every site selectable at run time in one ORT session: in front of each site's op,
/// one <c>MxQuantizeDequantize</c> per candidate format (axis = the op's reduction axis) and a chain of <c>Where</c>
/// nodes picks the candidate whose boolean scalar gate input is true, or the float32 activation when none is. The
/// values are exactly the MX-dequantized activations (Where copies them), so a combination of activation formats is
/// measured by setting the gates, without a session per candidate.
/// </summary>
public sealed class ActivationGates
{
    private readonly Dictionary<(string Site, string Format), string> _gates;

    private ActivationGates(Dictionary<(string, string), string> gates) => _gates = gates;

    /// <summary>The gate inputs, all false (every activation float32).</summary>
    public IReadOnlyDictionary<string, HostTensor> Off => Inputs(new Dictionary<string, FormatCandidate>());

    /// <summary>
    /// Edits <paramref name="model"/> in place: gates for <paramref name="sites"/> (found on this model) and the
    /// candidates that quantize (<c>fp32</c> needs no gate).
    /// </summary>
    /// <exception cref="NotSupportedException">The model's opset is below 9 (Where).</exception>
    public static ActivationGates Insert(OnnxModel model, IReadOnlyList<ActivationSite> sites, IReadOnlyList<FormatCandidate> candidates)
    {
        ArgumentNullException.ThrowIfNull(model);
        if ((model.OpsetVersion("") ?? 1) < 9) throw new NotSupportedException($"{model.Source}: activation formats are measured with Where (opset 9); the model imports opset {model.OpsetVersion("")}");
        var graph = model.Proto.Graph;
        var gates = new Dictionary<(string, string), string>();
        foreach (var site in sites)
        {
            string current = site.Activation;
            var inserted = new List<NodeProto>();
            foreach (var c in candidates.Where(c => c.Settings != null))
            {
                var s = c.Settings!;
                string q = model.UniqueName($"{site.Activation}.act_{c.Name}");
                inserted.Add(Node("MxQuantizeDequantize", MxOps.DomainName, model.UniqueName($"{site.NodeName}_act_{c.Name}"), [site.Activation], [q],
                    Str("format", s.Format.Name), Int("block_size", s.BlockSize), Int("axis", site.Axis), Str("scale_mode", s.ScaleText), Str("rounding", s.RoundingText)));
                string gate = model.UniqueName($"{site.Weight}.act_gate.{c.Name}");
                graph.Input.Add(new ValueInfoProto { Name = gate, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Bool, Shape = new TensorShapeProto() } } });
                string picked = model.UniqueName($"{site.Activation}.act_pick");
                inserted.Add(Node("Where", "", model.UniqueName($"{site.NodeName}_act_where_{c.Name}"), [gate, q, current], [picked]));
                current = picked;
                gates[(site.Weight, c.Name)] = gate;
            }
            int at = graph.Node.IndexOf(site.Node);
            foreach (var n in inserted) graph.Node.Insert(at++, n);
            site.Node.Input[0] = current;
        }
        if (model.OpsetVersion(MxOps.DomainName) is null)
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MxOps.DomainName, Version = MxOps.DomainVersion });
        model.Refresh();
        return new ActivationGates(gates);
    }

    /// <summary>The gate inputs for <paramref name="choices"/> (site weight name → candidate; sites not named stay float32).</summary>
    public IReadOnlyDictionary<string, HostTensor> Inputs(IReadOnlyDictionary<string, FormatCandidate> choices)
    {
        ArgumentNullException.ThrowIfNull(choices);
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var ((site, format), gate) in _gates)
        {
            var t = HostTensor.Zeros(TensorElementType.Bool);
            if (choices.TryGetValue(site, out var c) && c.Name == format) t.Data[0] = 1;
            result[gate] = t;
        }
        return result;
    }

    private static NodeProto Node(string op, string domain, string name, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Domain = domain, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    private static AttributeProto Str(string name, string v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };
}
