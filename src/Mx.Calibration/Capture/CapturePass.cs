using System.Diagnostics;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Diagnostics;
using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Calibration.Capture;

/// <summary>What one capture pass gathered, and what it cost.</summary>
public sealed class CaptureResult : IDisposable
{
    internal CaptureResult(IReadOnlyDictionary<string, LayerInputStatistics> inputs, IReadOnlyDictionary<string, TensorStatistics> activations,
        int samples, int passes, long spilledBytes, long peakRss, double seconds, string? spillFolder)
    {
        Inputs = inputs;
        Activations = activations;
        Samples = samples;
        Passes = passes;
        SpilledBytes = spilledBytes;
        PeakRssBytes = peakRss;
        Seconds = seconds;
        SpillFolder = spillFolder;
    }

    /// <summary>Layer input statistics by <see cref="LayerInput.Key"/>.</summary>
    public IReadOnlyDictionary<string, LayerInputStatistics> Inputs { get; }

    /// <summary>Activation statistics (channel space, for activation formats and splits) by the weight of each site.</summary>
    public IReadOnlyDictionary<string, TensorStatistics> Activations { get; }

    /// <summary>Samples streamed.</summary>
    public int Samples { get; }

    /// <summary>Passes over the samples (chunks of captured values).</summary>
    public int Passes { get; }

    /// <summary>Bytes of statistics written to disk.</summary>
    public long SpilledBytes { get; }

    /// <summary>Peak resident set of the process at the end of the pass (−1 where unknown).</summary>
    public long PeakRssBytes { get; }

    /// <summary>Wall time of the pass.</summary>
    public double Seconds { get; }

    /// <summary>The folder of spilled statistics, deleted on <see cref="Dispose"/>; null when nothing was spilled.</summary>
    public string? SpillFolder { get; }

    /// <summary>
    /// Releases every Gram matrix held in memory (and forgets spilled ones) once the layer errors that need them are
    /// computed; reservoirs, amax and counts stay. A later <see cref="LayerInputStatistics.Hessian"/> throws.
    /// </summary>
    public void ReleaseHessians()
    {
        foreach (var s in Inputs.Values) s.ReleaseHessians();
    }

    /// <summary>Deletes spilled statistics.</summary>
    public void Dispose()
    {
        if (SpillFolder != null && Directory.Exists(SpillFolder)) Directory.Delete(SpillFolder, recursive: true);
    }
}

/// <summary>
/// The capture pass: the float32 model runs over the calibration samples through ONNX Runtime with the values every
/// layer reads added as extra graph outputs, and each value is folded into its layer input's statistics
/// (<see cref="LayerInputStatistics"/>: H per group, reservoir, amax, lookup counts) and, for activation sites, into
/// the channel-space <see cref="TensorStatistics"/>. Only the current sample's values are held. When the values do
/// not fit <see cref="CaptureOptions.MemoryBytes"/> (or are more than <see cref="CaptureOptions.MaxOutputsPerPass"/>),
/// they are captured in chunks, one pass over the samples each; a finished chunk's Gram matrices are spilled to disk
/// when keeping them would pass the budget. The model is not modified.
/// </summary>
public static class CapturePass
{
    /// <summary>Runs the pass.</summary>
    /// <param name="model">The float32 model.</param>
    /// <param name="samples">The calibration samples (every model input by name).</param>
    /// <param name="inputs">The layer inputs to capture (one per <see cref="LayerInput.Key"/>).</param>
    /// <param name="sites">Activation sites whose channel statistics are wanted too.</param>
    /// <param name="options">Sizes and rules.</param>
    /// <param name="statistics">Sizes of the activation statistics.</param>
    /// <param name="progress">Called with (samples done, samples to do) over all passes.</param>
    /// <exception cref="InvalidDataException">ORT cannot load or run the model, or a captured value does not fit its layer; the message names the sample and value.</exception>
    public static CaptureResult Run(OnnxModel model, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> samples, IReadOnlyCollection<LayerInput> inputs,
        IReadOnlyList<ActivationSite> sites, CaptureOptions options, StatisticsOptions statistics, Action<int, int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(sites);
        ArgumentNullException.ThrowIfNull(options);
        if (samples.Count == 0) throw new InvalidDataException($"{model.Source}: no calibration samples");
        var clock = Stopwatch.StartNew();
        var graphInputs = model.Proto.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var stats = inputs.DistinctBy(i => i.Key).ToDictionary(i => i.Key, i => new LayerInputStatistics(i, options), StringComparer.Ordinal);
        var activations = new Dictionary<string, TensorStatistics>(StringComparer.Ordinal);
        string? mask = options.MaskInput ?? (graphInputs.Contains("attention_mask") ? "attention_mask" : null);

        // Chunks of values: each value's statistics (and its sites') must fit with the chunk's others in half the budget.
        var values = stats.Values.GroupBy(s => s.Input.Activation, StringComparer.Ordinal)
            .Select(g => (Name: g.Key, Bytes: g.Sum(s => LayerInputStatistics.EstimateBytes(s.Input, options)), Stats: g.ToList()))
            .Concat(sites.Select(s => s.Activation).Distinct(StringComparer.Ordinal).Where(a => !stats.Values.Any(s => s.Input.Activation == a))
                .Select(a => (Name: a, Bytes: 0L, Stats: new List<LayerInputStatistics>())))
            .ToList();
        var chunks = new List<List<(string Name, long Bytes, List<LayerInputStatistics> Stats)>>();
        long chunkBytes = 0;
        foreach (var v in values)
        {
            bool needsOutput = !graphInputs.Contains(v.Name);
            if (chunks.Count == 0 || (chunks[^1].Count > 0 && (chunkBytes + v.Bytes > options.MemoryBytes / 2 || chunks[^1].Count(x => !graphInputs.Contains(x.Name)) + (needsOutput ? 1 : 0) > options.MaxOutputsPerPass)))
            {
                chunks.Add([]);
                chunkBytes = 0;
            }
            chunks[^1].Add(v);
            chunkBytes += v.Bytes;
        }
        if (chunks.Count == 0) chunks.Add([]);

        string? spillFolder = null;
        long spilled = 0, held = 0;
        int done = 0, total = chunks.Count * samples.Count;
        try
        {
            // One session with every captured value as an output; each pass asks for its chunk's values only.
            var all = values.Select(v => v.Name).Where(n => !graphInputs.Contains(n)).ToArray();
            using var runner = all.Length == 0 ? null : ModelRunner.Load(model, WithOutputs(model.Proto, all), "the model with its layer inputs as outputs");
            foreach (var chunk in chunks)
            {
                var requested = chunk.Select(v => v.Name).Where(n => !graphInputs.Contains(n)).ToArray();
                var siteValues = chunk.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
                for (int s = 0; s < samples.Count; s++)
                {
                    var sample = samples[s];
                    var captured = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
                    if (requested.Length > 0)
                    {
                        var feed = Feed(runner!, sample, s);
                        var outs = runner!.Run(feed, requested, $"calibration sample {s}");
                        for (int i = 0; i < requested.Length; i++) captured[requested[i]] = outs[i];
                    }
                    bool[]? rowMask = mask != null && sample.TryGetValue(mask, out var m) ? MaskOf(m) : null;
                    HostTensor Value(string name) => captured.TryGetValue(name, out var t) ? t
                        : sample.TryGetValue(name, out var x) ? x
                        : throw new InvalidDataException($"calibration sample {s}: no value for '{name}'");
                    var work = chunk.SelectMany(v => v.Stats).ToList();
                    Parallel.ForEach(work, st =>
                    {
                        try
                        {
                            st.Add(Value(st.Input.Activation), rowMask, s);
                        }
                        catch (ArgumentException ex)
                        {
                            throw new InvalidDataException($"calibration sample {s}: {ex.Message}", ex);
                        }
                    });
                    foreach (var site in sites.Where(x => siteValues.Contains(x.Activation)))
                        StatisticsCollector.Add(activations, site, Value(site.Activation), statistics, s);
                    progress?.Invoke(++done, total);
                }
                // Spill this chunk's Gram matrices when keeping them would pass the budget.
                long chunkHeld = chunk.SelectMany(v => v.Stats).Sum(x => x.Bytes);
                if (held + chunkHeld > options.MemoryBytes)
                {
                    spillFolder ??= options.SpillFolder != null ? Directory.CreateDirectory(options.SpillFolder).FullName : Directory.CreateTempSubdirectory("mx-calib-spill-").FullName;
                    foreach (var st in chunk.SelectMany(v => v.Stats))
                    {
                        long before = st.Bytes;
                        st.Spill(spillFolder);
                        spilled += before - st.Bytes;
                    }
                    chunkHeld = chunk.SelectMany(v => v.Stats).Sum(x => x.Bytes);
                    LargeGarbage.Collect(long.MaxValue);
                }
                held += chunkHeld;
            }
        }
        catch
        {
            if (spillFolder != null && options.SpillFolder is null) Directory.Delete(spillFolder, recursive: true);
            throw;
        }
        return new CaptureResult(stats, activations, samples.Count, chunks.Count, spilled, ProcessMemory.PeakResidentBytes(), clock.Elapsed.TotalSeconds,
            options.SpillFolder is null ? spillFolder : null);
    }

    /// <summary>A copy of <paramref name="proto"/> with <paramref name="values"/> added as graph outputs (their types left for ORT to infer).</summary>
    internal static ModelProto WithOutputs(ModelProto proto, IEnumerable<string> values)
    {
        var copy = proto.Clone();
        var existing = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string v in values)
            if (existing.Add(v)) copy.Graph.Output.Add(new ValueInfoProto { Name = v });
        return copy;
    }

    /// <summary>The sample's tensors for every input of <paramref name="runner"/>.</summary>
    internal static Dictionary<string, HostTensor> Feed(ModelRunner runner, IReadOnlyDictionary<string, HostTensor> sample, int index)
    {
        var feed = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var i in runner.Inputs)
            feed[i.Name] = sample.TryGetValue(i.Name, out var t) ? t : throw new InvalidDataException($"calibration sample {index}: no tensor for model input '{i.Name}'");
        return feed;
    }

    // Nonzero positions of an attention mask (any numeric or bool type), flattened.
    private static bool[] MaskOf(HostTensor mask)
    {
        int size = Math.Max(1, mask.ElementType.BitsPerElement() / 8);
        var result = new bool[mask.ElementCount];
        var data = mask.Data;
        for (long i = 0; i < result.Length; i++)
        {
            bool any = false;
            for (int b = 0; b < size && !any; b++) any = data[i * size + b] != 0;
            result[i] = any;
        }
        return result;
    }
}
