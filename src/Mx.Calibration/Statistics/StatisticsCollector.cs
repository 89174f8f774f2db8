using Mx.Calibration.Data;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Onnx.Quantization;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Statistics;

/// <summary>
/// Streams calibration samples through a copy of the model whose graph outputs also include every site's activation,
/// one sample at a time, folding each into <see cref="TensorStatistics"/>: memory is bounded by the statistics, not by
/// the number of samples (nothing but the current sample is held). The model is not modified.
/// </summary>
public static class StatisticsCollector
{
    /// <summary>Collects the statistics of <paramref name="sites"/>' activations over the samples of <paramref name="reader"/>, and of the sites' weights.</summary>
    /// <exception cref="InvalidDataException">ORT cannot load the model, or a sample fails or lacks an input; the message names the sample.</exception>
    public static CalibrationStatistics Collect(OnnxModel model, ICalibrationDataReader reader, IReadOnlyList<ActivationSite> sites, StatisticsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sites);
        options ??= new StatisticsOptions();
        using var copy = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);
        var graph = copy.Proto.Graph;
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in sites.Select(s => s.Activation).Distinct())
        {
            if (inputs.Contains(name) || outputs.Contains(name)) continue;
            graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorElementType.Float } },
            });
            outputs.Add(name);
        }
        using var sessionOptions = HostTensorSession.CreateOptions();
        HostTensorSession session;
        try
        {
            session = HostTensorSession.FromBytes(copy.ToBytes(), sessionOptions);
        }
        catch (OrtException ex)
        {
            throw new InvalidDataException($"{model.Source}: ONNX Runtime cannot load the model with its activations as outputs: {ex.OrtMessage}", ex);
        }
        using (session)
        {
            var requested = sites.Select(s => s.Activation).Where(a => !inputs.Contains(a)).Distinct().ToArray();
            var activations = new Dictionary<string, TensorStatistics>(StringComparer.Ordinal);
            int count = 0;
            while (reader.GetNext() is { } sample)
            {
                var feed = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
                foreach (var i in session.Inputs)
                    feed[i.Name] = sample.TryGetValue(i.Name, out var t) ? t : throw new InvalidDataException($"calibration sample {count}: no tensor for model input {i}");
                HostTensor[] values;
                try
                {
                    values = requested.Length == 0 ? [] : session.Run(feed, requested);
                }
                catch (Exception ex) when (ex is ArgumentException or OrtException)
                {
                    throw new InvalidDataException($"calibration sample {count}: {(ex is OrtException oe ? oe.OrtMessage : ex.Message)}", ex);
                }
                var byName = requested.Zip(values).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
                foreach (var site in sites)
                {
                    var value = byName.TryGetValue(site.Activation, out var v) ? v : feed.GetValueOrDefault(site.Activation);
                    if (value is null || value.ElementType != TensorElementType.Float) continue;
                    int a = site.Axis < 0 ? site.Axis + value.Shape.Length : site.Axis;
                    if (a < 0 || a >= value.Shape.Length)
                        throw new InvalidDataException($"calibration sample {count}: activation '{site.Activation}' of {site.Op} '{site.NodeName}' has shape [{string.Join(", ", value.Shape)}], without axis {site.Axis}");
                    if (!activations.TryGetValue(site.Weight, out var stats))
                        activations[site.Weight] = stats = new TensorStatistics(site.Activation, (int)value.Shape[a], options.BlockSize, options.ReservoirCapacity, options.Seed);
                    try
                    {
                        stats.Add(value.AsSpan<float>(), value.Shape, site.Axis);
                    }
                    catch (ArgumentException ex)
                    {
                        throw new InvalidDataException($"calibration sample {count}: {ex.Message}", ex);
                    }
                }
                count++;
            }
            if (count == 0) throw new InvalidDataException($"{model.Source}: the calibration reader gave no samples");
            return new CalibrationStatistics(activations, WeightsOf(model, sites, options), count);
        }
    }

    /// <summary>Statistics of each site's weight, seen in its MX layout (blocks along its reduction axis).</summary>
    public static IReadOnlyDictionary<string, TensorStatistics> WeightsOf(OnnxModel model, IReadOnlyList<ActivationSite> sites, StatisticsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new StatisticsOptions();
        var names = sites.Select(s => s.Weight).ToHashSet(StringComparer.Ordinal);
        var result = new Dictionary<string, TensorStatistics>(StringComparer.Ordinal);
        foreach (var c in WeightFinder.Find(model).Candidates)
        {
            if (!names.Contains(c.Name) || c.Problem != null || c.Groups.Count != 1) continue;
            var layout = c.Groups[0].Layout;
            float[] w = model.ReadFloat32(c.Constant.Tensor);
            var stats = new TensorStatistics(c.Name, layout.K, options.BlockSize, options.ReservoirCapacity, options.Seed);
            stats.Add(w, layout.BlockShape.Select(d => (long)d).ToArray(), layout.Axis);
            result[c.Name] = stats;
        }
        return result;
    }
}
