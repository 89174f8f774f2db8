using Mx.Calibration.Data;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Calibration;

/// <summary>
/// Calibrates a model: streaming statistics of the activations and weights, optional outlier channel splitting (of
/// weights and of activations), per-weight sensitivity to each candidate format measured on calibration samples,
/// format selection under a budget, verification of the final combination, optionally per-activation formats under an
/// activation budget, and the recipe <c>mx quantize --recipe</c> applies. The input model is not modified.
/// </summary>
public static class Calibrator
{
    /// <summary>Runs calibration of <paramref name="model"/> on <paramref name="samples"/>.</summary>
    /// <exception cref="ArgumentException">The budget cannot be met by any combination (bits below the cheapest).</exception>
    /// <exception cref="InvalidDataException">The model fails on a sample; the message names it.</exception>
    public static CalibrationRecipe Calibrate(OnnxModel model, CalibrationSamples samples, CalibrationOptions options, string? modelName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(options);
        var log = options.Log ?? (_ => { });
        var quantizable = options.Candidates.Where(c => c.Settings != null).ToList();
        var found = WeightFinder.Find(model).Candidates;
        var original = found.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // Channel splits rewrite one main-graph initializer by name: not for a name several constants share.
        var sharedNames = found.GroupBy(c => c.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var skipped = new List<(string Name, string Op, string Reason)>();

        // Statistics stream over the samples (one at a time through the reader).
        var siteSkips = new List<(string Weight, string Reason)>();
        var sites = ActivationSite.Find(model, siteSkips);
        var stats = StatisticsCollector.Collect(model, CalibrationDataReaders.FromEnumerable(samples.Samples), sites, options.Statistics);
        log($"statistics: {stats.Activations.Count} activations, {stats.Weights.Count} weights over {stats.Samples} samples");

        using var work = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);
        var ocs = new Dictionary<string, OcsDecision>(StringComparer.Ordinal);
        var via = new Dictionary<string, string>(StringComparer.Ordinal);
        if (options.OcsRatio > 0 && quantizable.Count > 0)
        {
            var reference = quantizable.OrderBy(c => c.StoredBits(1, 1024)).First().Settings!;
            foreach (var target in OcsTarget.Find(work))
            {
                if (sharedNames.Contains(target.Name) || !original.TryGetValue(target.Name, out var oc) || oc.ElementCount < options.MinElements || options.Ops?.Contains(target.Node.OpType) == false) continue;
                float[] w = work.ReadFloat32(work.FindInitializer(target.Name)!);
                if (OcsPlanner.Plan(target, w, options.OcsRatio, options.OcsReorder, reference, options.OcsMode) is not { } d) continue;
                // Rewriting moves other weights' activations (a fold into a producer), so find the target again.
                via[target.Name] = OcsRewriter.Apply(work, target.Name, d.Map, OcsSide.Weight, d.SplitWeight);
                ocs[target.Name] = d;
                log($"ocs {target.Name}: {d.Map.SplitChannels.Count} channels split ({d.Map.Count - target.View.K} added{(d.Reordered ? ", outliers grouped" : "")}, {d.Mode.ToString().ToLowerInvariant()}), via {via[target.Name]}; outlier blocks {d.BlocksBefore.OutlierBlocks} → {d.BlocksAfter.OutlierBlocks}");
            }
        }
        var actQuantizable = options.ActCandidates.Where(c => c.Settings != null).ToList();
        if (options.ActOcsRatio > 0 && actQuantizable.Count > 0)
        {
            var reference = actQuantizable.OrderBy(c => c.StoredBits(1, 1024)).First().Settings!;
            foreach (var target in OcsTarget.Find(work))
            {
                if (ocs.ContainsKey(target.Name) || !stats.Activations.TryGetValue(target.Name, out var st)) continue;
                if (sharedNames.Contains(target.Name) || !original.TryGetValue(target.Name, out var oc) || oc.ElementCount < options.MinElements || options.Ops?.Contains(target.Node.OpType) == false) continue;
                if (OcsPlanner.PlanActivation(target, st, options.ActOcsRatio, options.ActOcsThreshold, options.OcsReorder, reference) is not { } d) continue;
                via[target.Name] = OcsRewriter.Apply(work, target.Name, d.Map, OcsSide.Activation);
                ocs[target.Name] = d;
                log($"activation ocs {target.Name} ({st.Name}): {d.Map.SplitChannels.Count} columns split ({d.Map.Count - target.View.K} added), via {via[target.Name]}; reservoir MSE in {reference.Format.Name} {d.ErrorBefore:G4} → {d.ErrorAfter:G4}");
            }
        }

        // One decision per weight name, as the quantizer's per-tensor settings address weights: every constant of that
        // name (initializer or Constant node, main graph or subgraph) and every layout its uses need.
        var weights = new List<(string Name, string Op, long OriginalElements)>();
        var elementsOf = found.GroupBy(c => c.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Sum(c => c.ElementCount), StringComparer.Ordinal);
        foreach (var named in WeightFinder.Find(work).Candidates.GroupBy(c => c.Name, StringComparer.Ordinal))
        {
            var c = named.First();
            if (!elementsOf.TryGetValue(c.Name, out long originalElements)) continue;
            if (options.Ops != null && named.Any(x => x.Uses.Any(u => !options.Ops.Contains(u.Op)))) continue;
            if (originalElements < options.MinElements) continue;
            // Structural problems are the quantizer's to report; with several constants of one name, some quantizable.
            if (named.All(x => x.Problem != null)) continue;
            if (named.FirstOrDefault(x => x.Problem != null) is { } bad)
            {
                skipped.Add((c.Name, c.Op, $"{named.Count()} constants are named '{c.Name}' and one cannot be quantized ({bad.Problem}): not calibrated; the quantizer's own options apply"));
                continue;
            }
            weights.Add((c.Name, c.Op, originalElements));
        }
        var swap = BuildSwap(work, weights, samples, skipped, log);
        foreach (var s in skipped) log($"skipped {s.Name}: {s.Reason}");
        log($"measuring {weights.Count} weights × {options.Candidates.Count} candidates on {samples.Samples.Count} samples");
        IReadOnlyList<WeightSensitivity> measured;
        Selection.Selection selection;
        List<UniformBaseline> uniform;
        using (swap)
        {
            measured = SensitivityAnalyzer.Measure(swap, weights, options.Candidates, (i, n, name) => log($"[{i + 1}/{n}] {name}"));
            Dictionary<string, float[]> Quantized(IReadOnlyDictionary<string, FormatCandidate> choices) =>
                swap.Quantized(measured.Select(w => KeyValuePair.Create(w.Name, choices[w.Name].Settings)));
            OutputError Verify(IReadOnlyDictionary<string, FormatCandidate> choices) => swap.Evaluate(Quantized(choices));

            long elements = Math.Max(1, measured.Sum(w => w.OriginalElements));
            uniform = options.Candidates.Select(c =>
            {
                var choices = measured.ToDictionary(w => w.Name, _ => c, StringComparer.Ordinal);
                double bits = measured.Sum(w => w.Measures.First(m => m.Candidate.Name == c.Name).Bits) / (double)elements;
                return new UniformBaseline(c, bits, c.Settings is null ? OutputError.Zero : Verify(choices));
            }).ToList();
            foreach (var u in uniform) log($"uniform {u.Candidate.Name}: {u.AverageBits:0.###} bits, objective {u.Measured.Objective:G4}, SQNR {u.Measured.SqnrDb:0.##} dB");
            selection = FormatSelector.Select(measured, options.Budget, Verify, uniform);
            foreach (string line in selection.Log) log(line);
        }

        // Activation formats, with the chosen weights in place.
        var actResult = options.ActBudget is { } actBudget && actQuantizable.Count > 0
            ? SelectActivations(work, samples, stats, ocs, selection, actBudget, options, log)
            : null;

        var tensors = measured.Select(w =>
        {
            var c = selection.Choices[w.Name];
            var m = w.Measures.First(x => x.Candidate.Name == c.Name);
            ocs.TryGetValue(w.Name, out var d);
            return new RecipeTensor(w.Name, w.Op, c.Settings, m.Bits / (double)w.OriginalElements, c.Settings is null ? null : m.TensorSqnrDb, m.Output,
                d?.Map, d is null ? null : via[w.Name], d?.BlocksBefore, d?.BlocksAfter)
            {
                OcsSide = d?.Side ?? OcsSide.Weight,
                OcsMode = d?.Mode ?? OcsSplitMode.Naive,
                OcsReference = d?.Reference,
                Activation = ActivationEntry(w.Name, stats, actResult),
            };
        }).ToList();
        skipped.AddRange(siteSkips.Where(s => actResult != null).Select(s => (s.Weight, original.TryGetValue(s.Weight, out var oc) ? oc.Op : "", "activation: " + s.Reason)));
        return new CalibrationRecipe
        {
            Model = modelName ?? model.Source,
            DataSource = samples.Source,
            Samples = samples.Samples.Count,
            RandomData = samples.IsRandom,
            Budget = options.Budget.ToString(),
            MaxBits = options.Budget.MaxBits,
            MinSqnrDb = options.Budget.MinSqnrDb,
            Candidates = options.Candidates.Select(c => c.Name).ToList(),
            Objective = options.Budget.MaxBits.HasValue && selection.Measured.MeanKl.HasValue ? "kl" : "nsr",
            OcsRatio = options.OcsRatio,
            OcsMode = options.OcsMode == OcsSplitMode.Qa ? "qa" : "naive",
            ActOcsRatio = options.ActOcsRatio,
            AverageBits = selection.AverageBits,
            BudgetMet = selection.BudgetMet && (actResult?.Selection.BudgetMet ?? true),
            Measured = selection.Measured,
            Tensors = tensors,
            Uniform = uniform.Select(u => (u.Candidate.Name, u.AverageBits, u.Measured)).ToList(),
            Log = actResult is null ? selection.Log : [.. selection.Log, .. actResult.Selection.Log.Select(l => "activations: " + l)],
            ActBudget = actResult is null ? null : options.ActBudget!.ToString().Replace("bits/weight", "bits/activation element", StringComparison.Ordinal),
            ActMaxBits = actResult is null ? null : options.ActBudget!.MaxBits,
            ActCandidates = actResult is null ? [] : options.ActCandidates.Select(c => c.Name).ToList(),
            ActAverageBits = actResult?.Selection.AverageBits,
            ActMeasured = actResult?.Selection.Measured,
            ActUniform = actResult?.Uniform.Select(u => (u.Candidate.Name, u.AverageBits, u.Measured)).ToList() ?? [],
            Skipped = skipped,
        };
    }

    // The measuring session. Should ONNX Runtime refuse the copy with every weight as a graph input, the weights that
    // are not plain main-graph initializers with one layout (those the copy rewires: Constant nodes, subgraph
    // constants, several layouts or constants of one name) are left out, each skipped with the error, and it is retried.
    private static WeightSwapModel BuildSwap(OnnxModel work, List<(string Name, string Op, long OriginalElements)> weights, CalibrationSamples samples,
        List<(string Name, string Op, string Reason)> skipped, Action<string> log)
    {
        try
        {
            return new WeightSwapModel(work, weights.Select(w => w.Name).ToList(), samples);
        }
        catch (InvalidDataException ex)
        {
            var plain = WeightFinder.Find(work).Candidates.GroupBy(c => c.Name, StringComparer.Ordinal)
                .Where(g => g.Count() == 1 && g.First() is { Constant.Source: Mx.Onnx.Graph.ConstantSource.Initializer, Groups.Count: 1 } c
                            && ReferenceEquals(c.Constant.Graph.Proto, work.Proto.Graph))
                .Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
            var rewired = weights.Where(w => !plain.Contains(w.Name)).ToList();
            if (rewired.Count == 0) throw;
            log($"the measuring copy fails ({ex.Message}); retrying without {rewired.Count} rewired weights");
            foreach (var w in rewired)
                skipped.Add((w.Name, w.Op, $"the measuring copy with it as a graph input fails in ONNX Runtime ({ex.Message}): not calibrated; the quantizer's own options apply"));
            weights.RemoveAll(w => !plain.Contains(w.Name));
            return new WeightSwapModel(work, weights.Select(w => w.Name).ToList(), samples);
        }
    }

    private sealed record ActivationResult(IReadOnlyDictionary<string, WeightSensitivity> Measured, IReadOnlyList<UniformBaseline> Uniform, Selection.Selection Selection);

    private static ActivationResult SelectActivations(OnnxModel work, CalibrationSamples samples, CalibrationStatistics stats, IReadOnlyDictionary<string, OcsDecision> ocs,
        Selection.Selection weights, Budget budget, CalibrationOptions options, Action<string> log)
    {
        using var gated = OnnxModel.FromBytes(work.ToBytes(), sourceName: work.Source);
        // Only the activations of quantized weights: the quantizer leaves a float32 weight's op (and its input) alone.
        var sites = ActivationSite.Find(gated)
            .Where(s => weights.Choices.TryGetValue(s.Weight, out var c) && c.Settings != null && stats.Activations.ContainsKey(s.Weight))
            .ToList();
        var gates = ActivationGates.Insert(gated, sites, options.ActCandidates);
        var inputs = sites.Select(s =>
        {
            var st = stats.Activations[s.Weight];
            int channels = st.K + (ocs.TryGetValue(s.Weight, out var d) ? d.Map.Count - d.Map.Sources.Distinct().Count() : 0);
            return new ActivationInput(s, st, channels);
        }).ToList();
        log($"measuring {inputs.Count} activations × {options.ActCandidates.Count} candidates");
        var chosen = weights.Choices.Where(c => c.Value.Settings != null).Select(c => KeyValuePair.Create(c.Key, c.Value.Settings)).ToList();
        using var swap = new WeightSwapModel(gated, chosen.Select(c => c.Key).ToList(), samples, gates.Off);
        var chosenWeights = swap.Quantized(chosen);
        var (measured, uniform, selection) = ActivationSelector.Select(swap, gates, inputs, options.ActCandidates, budget, chosenWeights, log);
        foreach (string line in selection.Log) log("activations: " + line);
        return new ActivationResult(measured.ToDictionary(m => m.Name, StringComparer.Ordinal), uniform, selection);
    }

    private static RecipeActivation? ActivationEntry(string weight, CalibrationStatistics stats, ActivationResult? result)
    {
        if (!stats.Activations.TryGetValue(weight, out var st)) return null;
        var outliers = st.OutlierChannels(ChannelSplitPlanner.OutlierFactor);
        if (result is null || !result.Selection.Choices.TryGetValue(weight, out var c))
            return new RecipeActivation(st.Name, false, null, null, null, null, st.Amax, st.Values.Percentile(0.999), outliers);
        var w = result.Measured[weight];
        var m = w.Measures.First(x => x.Candidate.Name == c.Name);
        return new RecipeActivation(st.Name, true, c.Settings, m.Bits / (double)Math.Max(1, w.OriginalElements), c.Settings is null ? null : m.TensorSqnrDb, m.Output,
            st.Amax, st.Values.Percentile(0.999), outliers);
    }
}
