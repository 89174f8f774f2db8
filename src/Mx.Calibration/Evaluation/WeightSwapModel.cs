using Mx.Calibration.Data;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Graph;
using Mx.Onnx.Quantization;
using Mx.Onnx.Proto;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Evaluation;

/// <summary>
/// One graph input of the measuring copy that stands for (part of) a measured weight: the values one layout group of one
/// constant reads.
/// </summary>
/// <param name="InputName">The graph input's name (the weight's own name where that is unambiguous, else a new one).</param>
/// <param name="Layout">The MX layout the uses reading this input need.</param>
/// <param name="Original">The constant's float32 values.</param>
/// <param name="FirstOfConstant">Whether this is the first input of its constant (float32 bits are counted once per constant).</param>
public sealed record SwapInput(string InputName, WeightLayout Layout, HostTensor Original, bool FirstOfConstant);

/// <summary>
/// Measures the output error caused by replacing some weights with other values (their MX-dequantized values):
/// one ORT session of a copy of the model in which the measured weights are graph inputs instead of constants, so
/// every candidate combination runs without rebuilding a session. The float32 outputs are computed once and cached.
/// </summary>
/// <remarks>
/// A weight is addressed by name, as the quantizer's per-tensor settings address it, and may stand for several graph
/// inputs: every constant of that name (initializer or Constant node, in the main graph or in an If/Loop/Scan subgraph)
/// and, per constant, every layout group its uses need. Each becomes a main-graph input; a subgraph's uses see it
/// through the outer scope. The weight's own name is kept when nothing else in the model defines it; otherwise (a
/// name repeated in another graph, a second layout) the uses are pointed at a new, unique name. The constant itself
/// (initializer or Constant node) is removed from the copy.
/// </remarks>
public sealed class WeightSwapModel : IDisposable
{
    private readonly HostTensorSession _session;
    private readonly Dictionary<string, IReadOnlyList<SwapInput>> _weights;
    private readonly Dictionary<string, HostTensor> _inputs;
    private readonly IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> _samples;
    private readonly string[] _outputs;
    private readonly HostTensor[][] _reference;
    private readonly IReadOnlyDictionary<string, HostTensor> _fixed;

    /// <summary>Builds the session; each of <paramref name="weightNames"/> must name quantizable float32 weights of <paramref name="model"/>.</summary>
    /// <param name="model">The model (not modified).</param>
    /// <param name="weightNames">The weights to make swappable (names, as the quantizer's per-tensor settings use them).</param>
    /// <param name="samples">The calibration samples.</param>
    /// <param name="fixedInputs">Extra graph inputs and their default values (e.g. <see cref="ActivationGates.Off"/>); the reference outputs use these.</param>
    /// <exception cref="ArgumentException">A name is not a weight the quantizer can quantize; the message names it.</exception>
    /// <exception cref="InvalidDataException">ORT cannot load the model or fails on a sample; the message names the sample.</exception>
    public WeightSwapModel(OnnxModel model, IReadOnlyCollection<string> weightNames, CalibrationSamples samples, IReadOnlyDictionary<string, HostTensor>? fixedInputs = null)
    {
        _fixed = fixedInputs ?? new Dictionary<string, HostTensor>();
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weightNames);
        ArgumentNullException.ThrowIfNull(samples);
        using var copy = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);
        (_weights, _inputs) = MakeInputs(copy, weightNames, model.Source);
        using var options = HostTensorSession.CreateOptions();
        try
        {
            _session = HostTensorSession.FromBytes(copy.ToBytes(), options);
        }
        catch (OrtException ex)
        {
            throw new InvalidDataException($"{model.Source}: ONNX Runtime cannot load the model with {string.Join(", ", weightNames.Take(8).Select(n => $"'{n}'"))}{(weightNames.Count > 8 ? ", ..." : "")} as graph inputs: {ex.OrtMessage}", ex);
        }
        _samples = samples.Samples;
        _outputs = _session.Outputs.Where(o => o.IsTensor && o.ElementType == TensorElementType.Float).Select(o => o.Name).ToArray();
        if (_outputs.Length == 0) throw new InvalidDataException($"{model.Source}: the model has no float32 outputs to measure error on");
        _reference = _samples.Select((s, i) => Run(s, i, null, null)).ToArray();
    }

    // Turns every constant named in weightNames into main-graph inputs (one per layout group) in the copy.
    private static (Dictionary<string, IReadOnlyList<SwapInput>>, Dictionary<string, HostTensor>) MakeInputs(OnnxModel copy, IReadOnlyCollection<string> weightNames, string source)
    {
        var weights = new Dictionary<string, IReadOnlyList<SwapInput>>(StringComparer.Ordinal);
        var values = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        if (weightNames.Count == 0) return (weights, values);
        var main = copy.Proto.Graph;
        var graphs = copy.Graph.SelfAndDescendants().ToList();
        var byName = WeightFinder.Find(copy).Candidates.ToLookup(c => c.Name, StringComparer.Ordinal);
        var removedNodes = new List<(GraphProto Graph, NodeProto Node)>();
        foreach (string name in weightNames.Distinct(StringComparer.Ordinal))
        {
            var constants = byName[name].ToList();
            if (constants.Count == 0)
                throw new ArgumentException($"{source}: '{name}' is not the weight of a MatMul, Gemm, Conv or Gather");
            if (constants.FirstOrDefault(c => c.Problem != null) is { } bad)
                throw new ArgumentException($"{source}: weight '{name}' cannot be quantized: {bad.Problem}");
            // The name can stay when only this constant defines it (a main-graph initializer may also be listed as an input).
            int definitions = graphs.Sum(g => (g.Proto.Initializer.Any(t => t.Name == name) ? 1 : 0) + (g.Producer(name) != null ? 1 : 0)
                                              + (g.IsInput(name) && !(ReferenceEquals(g.Proto, main) && g.Initializer(name) != null) ? 1 : 0));
            bool keepName = constants.Count == 1 && definitions == 1;
            var inputs = new List<SwapInput>();
            foreach (var c in constants)
            {
                var tensor = copy.ReadHostTensor(c.Constant.Tensor);
                for (int g = 0; g < c.Groups.Count; g++)
                {
                    var group = c.Groups[g];
                    string input = keepName && g == 0 ? name : copy.UniqueName(name + ".swap");
                    foreach (var use in group.Uses) use.Node.Input[use.InputIndex] = input;
                    inputs.Add(new SwapInput(input, group.Layout, tensor, g == 0));
                    values[input] = tensor;
                    if (main.Input.Any(i => i.Name == input)) continue;
                    var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Float, Shape = new TensorShapeProto() } };
                    foreach (long d in c.Shape) type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
                    main.Input.Add(new ValueInfoProto { Name = input, Type = type });
                }
                var owner = c.Constant.Graph.Proto;
                if (c.Constant.Source == ConstantSource.ConstantNode && c.Constant.Node != null)
                    removedNodes.Add((owner, c.Constant.Node));
                else
                    for (int i = owner.Initializer.Count - 1; i >= 0; i--)
                        if (ReferenceEquals(owner.Initializer[i], c.Constant.Tensor)) owner.Initializer.RemoveAt(i);
            }
            weights[name] = inputs;
        }
        foreach (var (graph, node) in removedNodes) graph.Node.Remove(node);
        copy.Refresh();
        return (weights, values);
    }

    /// <summary>The graph inputs that stand for weight <paramref name="name"/> (one per constant and layout; usually one).</summary>
    public IReadOnlyList<SwapInput> Inputs(string name) => _weights[name];

    /// <summary>The weight's values fake-quantized with <paramref name="settings"/>, per graph input (each in its own layout).</summary>
    public IEnumerable<KeyValuePair<string, float[]>> Quantized(string name, TensorSettings settings) =>
        _weights[name].Select(i => KeyValuePair.Create(i.InputName, FakeQuant.Apply(i.Original.ToFloatArray(), i.Layout, settings)));

    /// <summary>The weights' values fake-quantized with their settings (weights mapped to null stay float32), per graph input.</summary>
    public Dictionary<string, float[]> Quantized(IEnumerable<KeyValuePair<string, TensorSettings?>> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, s) in settings)
            if (s != null)
                foreach (var (input, v) in Quantized(name, s)) result[input] = v;
        return result;
    }

    /// <summary>The float32 outputs compared.</summary>
    public IReadOnlyList<string> OutputNames => _outputs;

    /// <summary>Samples each evaluation runs.</summary>
    public int SampleCount => _samples.Count;

    /// <summary>The reference outputs of sample <paramref name="index"/> (in <see cref="OutputNames"/> order).</summary>
    public IReadOnlyList<HostTensor> ReferenceOutputs(int index) => _reference[index];

    /// <summary>Runs every sample with <paramref name="replaced"/> weights (graph input → values, same shape) and measures the error.</summary>
    /// <param name="replaced">Graph input (<see cref="SwapInput.InputName"/>; the weight's name for a weight with one input) → values.</param>
    /// <param name="inputs">Values for some of the extra inputs (the others keep their defaults).</param>
    public OutputError Evaluate(IReadOnlyDictionary<string, float[]> replaced, IReadOnlyDictionary<string, HostTensor>? inputs = null)
    {
        ArgumentNullException.ThrowIfNull(replaced);
        var acc = _outputs.Select(n => new OutputErrorAccumulator(n)).ToArray();
        for (int s = 0; s < _samples.Count; s++)
        {
            var outs = Run(_samples[s], s, replaced, inputs);
            for (int o = 0; o < acc.Length; o++) acc[o].Add(_reference[s][o], outs[o]);
        }
        var results = acc.Select(a => a.Result()).ToArray();
        double nsr = results.Average(r => r.RelL2Error * r.RelL2Error);
        var cls = results.Where(r => r.IsClassScores).ToArray();
        double? kl = cls.Length == 0 ? null : cls.Average(r => r.MeanKl!.Value);
        double? top1 = cls.Length == 0 ? null : cls.Average(r => r.Top1Agreement!.Value);
        return new OutputError(nsr, kl, top1);
    }

    private HostTensor[] Run(IReadOnlyDictionary<string, HostTensor> sample, int index, IReadOnlyDictionary<string, float[]>? replaced, IReadOnlyDictionary<string, HostTensor>? extra)
    {
        var inputs = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var i in _session.Inputs)
        {
            if (_inputs.TryGetValue(i.Name, out var w))
                inputs[i.Name] = replaced != null && replaced.TryGetValue(i.Name, out var v) ? HostTensor.FromFloats(v, w.Shape) : w;
            else if (extra != null && extra.TryGetValue(i.Name, out var e))
                inputs[i.Name] = e;
            else if (_fixed.TryGetValue(i.Name, out var f))
                inputs[i.Name] = f;
            else if (sample.TryGetValue(i.Name, out var x))
                inputs[i.Name] = x;
            else
                throw new InvalidDataException($"calibration sample {index}: no tensor for model input {i}");
        }
        try
        {
            return _session.Run(inputs, _outputs);
        }
        catch (Exception ex) when (ex is ArgumentException or OrtException)
        {
            string message = ex is OrtException oe ? oe.OrtMessage : ex.Message;
            throw new InvalidDataException($"calibration sample {index}: {message}", ex);
        }
    }

    /// <summary>Releases the session.</summary>
    public void Dispose() => _session.Dispose();
}
