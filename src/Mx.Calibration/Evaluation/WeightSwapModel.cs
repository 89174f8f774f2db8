using Mx.Calibration.Data;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Evaluation;

/// <summary>
/// Measures the output error caused by replacing some weights with other values (their MX-dequantized values):
/// one ORT session of a copy of the model in which the measured weights are graph inputs instead of initializers, so
/// every candidate combination runs without rebuilding a session. The float32 outputs are computed once and cached.
/// </summary>
public sealed class WeightSwapModel : IDisposable
{
    private readonly OrtSession _session;
    private readonly Dictionary<string, HostTensor> _weights;
    private readonly IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> _samples;
    private readonly string[] _outputs;
    private readonly HostTensor[][] _reference;
    private readonly IReadOnlyDictionary<string, HostTensor> _fixed;

    /// <summary>Builds the session; <paramref name="weightNames"/> must be main-graph float32 initializers of <paramref name="model"/>.</summary>
    /// <param name="model">The model (not modified).</param>
    /// <param name="weightNames">The weights to make swappable.</param>
    /// <param name="samples">The calibration samples.</param>
    /// <param name="fixedInputs">Extra graph inputs and their default values (e.g. <see cref="ActivationGates.Off"/>); the reference outputs use these.</param>
    /// <exception cref="ArgumentException">A name is not a main-graph initializer.</exception>
    /// <exception cref="InvalidDataException">ORT cannot load the model or fails on a sample; the message names the sample.</exception>
    public WeightSwapModel(OnnxModel model, IReadOnlyCollection<string> weightNames, CalibrationSamples samples, IReadOnlyDictionary<string, HostTensor>? fixedInputs = null)
    {
        _fixed = fixedInputs ?? new Dictionary<string, HostTensor>();
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        using var copy = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);
        var graph = copy.Proto.Graph;
        _weights = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (string name in weightNames)
        {
            var t = copy.FindInitializer(name) ?? throw new ArgumentException($"{model.Source}: '{name}' is not an initializer of the main graph");
            _weights[name] = copy.ReadHostTensor(t);
            copy.RemoveInitializer(name);
            if (graph.Input.Any(i => i.Name == name)) continue;
            var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = t.DataType, Shape = new TensorShapeProto() } };
            foreach (long d in t.Dims) type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            graph.Input.Add(new ValueInfoProto { Name = name, Type = type });
        }
        var options = new OrtSessionOptions();
        MxOps.Register(options);
        try
        {
            _session = OrtSession.FromBytes(copy.ToBytes(), options);
        }
        catch (OrtException ex)
        {
            throw new InvalidDataException($"{model.Source}: ONNX Runtime cannot load the model: {ex.OrtMessage}", ex);
        }
        _samples = samples.Samples;
        _outputs = _session.Outputs.Where(o => o.IsTensor && o.ElementType == TensorElementType.Float).Select(o => o.Name).ToArray();
        if (_outputs.Length == 0) throw new InvalidDataException($"{model.Source}: the model has no float32 outputs to measure error on");
        _reference = _samples.Select((s, i) => Run(s, i, null, null)).ToArray();
    }

    /// <summary>The float32 outputs compared.</summary>
    public IReadOnlyList<string> OutputNames => _outputs;

    /// <summary>Samples each evaluation runs.</summary>
    public int SampleCount => _samples.Count;

    /// <summary>The original float32 values of a measured weight.</summary>
    public float[] Original(string name) => _weights[name].ToFloatArray();

    /// <summary>The reference outputs of sample <paramref name="index"/> (in <see cref="OutputNames"/> order).</summary>
    public IReadOnlyList<HostTensor> ReferenceOutputs(int index) => _reference[index];

    /// <summary>Runs every sample with <paramref name="replaced"/> weights (name → values, same shape) and measures the error.</summary>
    /// <param name="replaced">Weight name → values.</param>
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
            if (_weights.TryGetValue(i.Name, out var w))
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
