using System.Diagnostics;
using System.Globalization;
using Mx.Calibration.Capture;
using Mx.Calibration.Data;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Diagnostics;
using Mx.Onnx.Quantization;
using Mx.Runtime;

namespace Mx.Calibration;

/// <summary>
/// Calibrates a model with a cost that grows linearly with it: one capture pass of the float32 model over the samples
/// (every layer input's H = XᵀX, reservoir and amax, plus activation statistics), optional outlier channel splitting,
/// the layer-local error of every candidate of every weight (no model run), one sensitivity run per weight (or group),
/// the exact multiple-choice knapsack under the budget, at most five verification runs, optionally the same for the
/// activation formats, and the recipe <c>mx quantize --recipe</c> applies. The input model is not modified.
/// See docs/calibration.md.
/// </summary>
public static class Calibrator
{
    /// <summary>Runs calibration of <paramref name="model"/> on <paramref name="samples"/>.</summary>
    /// <exception cref="ArgumentException">The budget cannot be met by any combination (bits below the cheapest), or <see cref="CalibrationOptions.Strict"/> and a pattern matched nothing.</exception>
    /// <exception cref="InvalidDataException">The model fails on a sample; the message names it.</exception>
    public static CalibrationRecipe Calibrate(OnnxModel model, CalibrationSamples samples, CalibrationOptions options, string? modelName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var log = options.Log ?? (_ => { });
        void Progress(string stage, int done, int total) => options.Progress?.Invoke(new CalibrationProgress(stage, done, total));
        var captureOptions = options.Seed is int seed ? options.Capture with { Seed = seed } : options.Capture;
        var statisticsOptions = options.Seed is int seed2 ? options.Statistics with { Seed = seed2 } : options.Statistics;
        var quantizable = options.Candidates.Where(c => c.Settings != null).ToList();
        var scope = CalibrationScope.Resolve(model, options.Ops, options.NodesToExclude, options.Exclude, options.Strict);
        foreach (string u in scope.Unmatched) log($"matched nothing: {u}");
        var found = WeightFinder.Find(model).Candidates;
        var original = found.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        // Channel splits rewrite one main-graph initializer by name: not for a name several constants share.
        var sharedNames = found.GroupBy(c => c.Name, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var skipped = new List<(string Name, string Op, string Reason)>();
        var selected = Select(found, options, scope, skipped);

        // One capture pass: every selected weight's layer inputs, and the activation sites' statistics.
        var uses = WeightInputs.Of(found, selected);
        foreach (var (name, list) in uses)
            foreach (var u in list.Where(u => u.Input is null))
                log($"{name}: input not captured ({u.Why}); its layer error is weighed as ‖Δ‖² (H = I) and calibrated by its sensitivity run");
        var siteSkips = new List<(string Weight, string Reason)>();
        var sites = ActivationSite.Find(model, siteSkips).Where(s => selected.Contains(s.Weight)).ToList();
        var layerInputs = uses.Values.SelectMany(l => l).Where(u => u.Input != null).Select(u => u.Input!).DistinctBy(i => i.Key).ToList();
        using var capture = CapturePass.Run(model, samples.Samples, layerInputs, sites, captureOptions, statisticsOptions, (i, n) => Progress("capture", i, n));
        log($"capture: {capture.Inputs.Count} layer inputs and {capture.Activations.Count} activations over {capture.Samples} samples in {capture.Passes} pass(es), {F(capture.Seconds)} s" +
            (capture.SpilledBytes > 0 ? $", {F(capture.SpilledBytes / 1048576.0)} MiB spilled to disk" : "") + Rss());

        using var work = OnnxModel.FromProto(model.Proto.Clone(), model.ExternalData.Folder, model.Source);
        var (ocs, via) = PlanSplits(work, capture, original, sharedNames, selected, options, quantizable, log);

        // One decision per weight name, as the quantizer's per-tensor settings address weights.
        var weights = WeightsOf(work, found, selected, options, skipped);
        var stageClock = Stopwatch.StartNew();
        var errors = WeightErrorTable.Compute(model, work, weights, uses, capture, ocs, options.Candidates, options.MaxGramK, (i, n) => Progress("local errors", i, n));
        // H served the layer errors; activation formats need the reservoirs only.
        capture.ReleaseHessians();
        LargeGarbage.Collect(long.MaxValue);
        log($"local errors: {weights.Count} weights × {options.Candidates.Count} candidates in {F(stageClock.Elapsed.TotalSeconds)} s{Rss()}");
        var swap = BuildSwap(work, weights, samples, skipped, log);
        errors = errors.Where(e => weights.Any(w => w.Name == e.Name)).ToList();
        foreach (var s in skipped) log($"skipped {s.Name}: {s.Reason}");
        Sensitivity?[] sensitivity;
        Selection.Selection selection;
        IReadOnlyList<UniformBaseline> uniform;
        Budget budget = options.Budget;
        long elements = Math.Max(1, errors.Sum(e => e.OriginalElements));
        long? capBits = null;
        if (budget.MaxBytes is long maxBytes)
        {
            // The rest of the model (graph, other tensors) is stored as it is; the cap left is the weights' bits.
            long rest = ModelBytes(model) - errors.Sum(e => 4 * e.OriginalElements);
            capBits = Math.Max(0, (maxBytes - rest) * 8);
            budget = budget.WithBits(capBits.Value / (double)elements);
            log($"--max-size {maxBytes} bytes: {rest} bytes besides the calibrated weights leave {F(capBits.Value / (double)elements)} bits per weight");
        }
        using (swap)
        {
            OutputError Evaluate(IReadOnlyDictionary<string, FormatCandidate> choices, int? sampleCount = null)
            {
                var replaced = swap.QuantizedTensors(choices.Select(c => KeyValuePair.Create(c.Key, c.Value.Settings)));
                var error = swap.Evaluate(replaced, sampleCount: sampleCount);
                LargeGarbage.Collect(replaced.Values.Sum(v => v.ElementCount) * 8);
                return error;
            }
            var coarsest = errors.Select(e => e.Coarsest is { } c ? ((string, FormatCandidate, double)?)(e.Name, c.Candidate, c.Local) : null).ToList();
            var stage = Stopwatch.StartNew();
            sensitivity = SensitivityRuns.Measure(coarsest, choices => Evaluate(choices, options.SensitivitySamples),
                options.MaxSensitivityRuns, (i, n) => Progress("sensitivity", i, n));
            log($"sensitivity: {sensitivity.Where(s => s != null).Select(s => s!.Group).Distinct().Count()} runs in {F(stage.Elapsed.TotalSeconds)} s{Rss()}");
            bool kl = budget.MaxBits.HasValue && sensitivity.Any(s => s?.Kl != null);
            var groups = errors.Select((e, i) => new PlanGroup(e.Name, e.OriginalElements, e.Candidates.Select(c =>
                new PlanItem(c.Candidate, c.Bits, (sensitivity[i]?.Objective(kl) ?? 0) * c.Local, (sensitivity[i]?.Nsr ?? 0) * c.Local)).ToList())).ToList();
            int verifications = 0;
            selection = BudgetSolver.Solve(groups, budget, choices =>
            {
                Progress("verification", ++verifications, BudgetSolver.MaxVerifications);
                return Evaluate(choices);
            }, out uniform, capBits);
            foreach (string line in selection.Log) log(line);
        }

        // Activation formats, with the chosen weights in place.
        var actQuantizable = options.ActCandidates.Where(c => c.Settings != null).ToList();
        var actResult = options.ActBudget is { } actBudget && actQuantizable.Count > 0
            ? SelectActivations(work, samples, capture, uses, ocs, selection, actBudget, options, log, Progress)
            : null;

        bool objectiveKl = budget.MaxBits.HasValue && selection.Measured.MeanKl.HasValue;
        var tensors = errors.Select((w, i) =>
        {
            var c = selection.Choices[w.Name];
            var m = w.Candidates.First(x => x.Candidate.Name == c.Name);
            var s = sensitivity[i];
            ocs.TryGetValue(w.Name, out var d);
            var predicted = s is null ? OutputError.Zero : new OutputError(s.Nsr * m.Local, s.Kl is double k ? k * m.Local : null, null);
            return new RecipeTensor(w.Name, w.Op, c.Settings, m.Bits / (double)w.OriginalElements, c.Settings is null ? null : m.TensorSqnrDb, predicted,
                d?.Map, d is null ? null : via[w.Name], d?.BlocksBefore, d?.BlocksAfter)
            {
                OcsSide = d?.Side ?? OcsSide.Weight,
                OcsMode = d?.Mode ?? OcsSplitMode.Naive,
                OcsReference = d?.Reference,
                Activation = ActivationEntry(w.Name, capture.Activations, actResult),
                LocalNsr = c.Settings is null || w.Energy <= 0 ? null : m.Local / w.Energy,
                Sensitivity = s?.Objective(objectiveKl),
                Method = string.Join(",", w.Methods.Distinct().Select(MethodName)),
            };
        }).ToList();
        skipped.AddRange(siteSkips.Where(s => actResult != null && selected.Contains(s.Weight))
            .Select(s => (s.Weight, original.TryGetValue(s.Weight, out var oc) ? oc.Op : "", "activation: " + s.Reason)));
        int sensitivityRuns = sensitivity.Where(s => s != null).Select(s => s!.Group).Distinct().Count() + (actResult?.SensitivityRuns ?? 0);
        var cost = new RecipeCost(clock.Elapsed.TotalSeconds, capture.Seconds, capture.Passes, capture.SpilledBytes, sensitivityRuns,
            selection.Verified.Count + (actResult?.Selection.Verified.Count ?? 0), ProcessMemory.PeakResidentBytes());
        log($"done in {F(cost.Seconds)} s: {cost.SensitivityRuns} sensitivity runs, {cost.VerificationRuns} verification runs, peak RSS {F(cost.PeakRssBytes / (double)(1L << 30))} GiB");
        return new CalibrationRecipe
        {
            Model = modelName ?? model.Source,
            DataSource = samples.Source,
            Samples = samples.Samples.Count,
            RandomData = samples.IsRandom,
            Budget = budget.ToString(),
            MaxBits = budget.MaxBits,
            MinSqnrDb = budget.MinSqnrDb,
            Candidates = options.Candidates.Select(c => c.Name).ToList(),
            Objective = objectiveKl ? "kl" : "nsr",
            OcsRatio = options.OcsRatio,
            OcsMode = options.OcsMode == OcsSplitMode.Qa ? "qa" : "naive",
            ActOcsRatio = options.ActOcsRatio,
            AverageBits = selection.AverageBits,
            BudgetMet = selection.BudgetMet && (actResult?.Selection.BudgetMet ?? true),
            Measured = selection.Measured,
            Predicted = selection.Predicted,
            Tensors = tensors,
            Uniform = uniform.Select(Entry).ToList(),
            Verification = selection.Verified,
            Log = [.. scope.Unmatched.Select(u => "matched nothing: " + u), .. selection.Log, .. actResult?.Selection.Log.Select(l => "activations: " + l) ?? []],
            ActBudget = actResult is null ? null : options.ActBudget!.ToString().Replace("bits/weight", "bits/activation element", StringComparison.Ordinal),
            ActMaxBits = actResult is null ? null : options.ActBudget!.MaxBits,
            ActCandidates = actResult is null ? [] : options.ActCandidates.Select(c => c.Name).ToList(),
            ActAverageBits = actResult?.Selection.AverageBits,
            ActMeasured = actResult?.Selection.Measured,
            ActUniform = actResult?.Uniform.Select(Entry).ToList() ?? [],
            ActVerification = actResult?.Selection.Verified ?? [],
            Skipped = skipped,
            Excluded = scope.Excluded,
            Seed = options.Seed ?? captureOptions.Seed,
            Cost = cost,
        };
    }

    private static RecipeUniform Entry(UniformBaseline u) => new(u.Candidate.Name, u.AverageBits, u.Predicted, u.Measured);

    private static string MethodName(LocalErrorMethod m) => m switch
    {
        LocalErrorMethod.Gram => "gram",
        LocalErrorMethod.Reservoir => "reservoir",
        LocalErrorMethod.Lookup => "lookup",
        _ => "weight-only",
    };

    // The weight names the options select (op types, minimum size, exclusions), with structural problems left to the quantizer.
    private static HashSet<string> Select(IReadOnlyList<WeightCandidate> found, CalibrationOptions options, CalibrationScope scope, List<(string Name, string Op, string Reason)> skipped)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var named in found.GroupBy(c => c.Name, StringComparer.Ordinal))
        {
            var c = named.First();
            if (scope.ExcludedNames.Contains(c.Name)) continue;
            if (options.Ops != null && named.Any(x => x.Uses.Any(u => !options.Ops.Contains(u.Op)))) continue;
            if (named.Sum(x => x.ElementCount) < options.MinElements) continue;
            if (named.All(x => x.Problem != null)) continue;
            if (named.FirstOrDefault(x => x.Problem != null) is { } bad)
            {
                skipped.Add((c.Name, c.Op, $"{named.Count()} constants are named '{c.Name}' and one cannot be quantized ({bad.Problem}): not calibrated; the quantizer's own options apply"));
                continue;
            }
            result.Add(c.Name);
        }
        return result;
    }

    // Weight-side, then activation-side channel splits, rewritten into the working model.
    private static (Dictionary<string, OcsDecision> Ocs, Dictionary<string, string> Via) PlanSplits(OnnxModel work, CaptureResult capture, Dictionary<string, WeightCandidate> original,
        HashSet<string> sharedNames, HashSet<string> selected, CalibrationOptions options, List<FormatCandidate> quantizable, Action<string> log)
    {
        var ocs = new Dictionary<string, OcsDecision>(StringComparer.Ordinal);
        var via = new Dictionary<string, string>(StringComparer.Ordinal);
        bool Eligible(OcsTarget t) => selected.Contains(t.Name) && !sharedNames.Contains(t.Name) && original.ContainsKey(t.Name);
        if (options.OcsRatio > 0 && quantizable.Count > 0)
        {
            var reference = quantizable.OrderBy(c => c.StoredBits(1, 1024)).First().Settings!;
            foreach (var target in OcsTarget.Find(work))
            {
                if (!Eligible(target)) continue;
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
                if (ocs.ContainsKey(target.Name) || !Eligible(target) || !capture.Activations.TryGetValue(target.Name, out var st)) continue;
                if (OcsPlanner.PlanActivation(target, st, options.ActOcsRatio, options.ActOcsThreshold, options.OcsReorder, reference) is not { } d) continue;
                via[target.Name] = OcsRewriter.Apply(work, target.Name, d.Map, OcsSide.Activation);
                ocs[target.Name] = d;
                log($"activation ocs {target.Name} ({st.Name}): {d.Map.SplitChannels.Count} columns split ({d.Map.Count - target.View.K} added), via {via[target.Name]}; reservoir MSE in {reference.Format.Name} {d.ErrorBefore:G4} → {d.ErrorAfter:G4}");
            }
        }
        return (ocs, via);
    }

    // The selected weights as the working model holds them, with their elements before splitting.
    private static List<(string Name, string Op, long OriginalElements)> WeightsOf(OnnxModel work, IReadOnlyList<WeightCandidate> found, HashSet<string> selected,
        CalibrationOptions options, List<(string Name, string Op, string Reason)> skipped)
    {
        var elementsOf = found.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(c => c.ElementCount), StringComparer.Ordinal);
        var weights = new List<(string Name, string Op, long OriginalElements)>();
        foreach (var named in WeightFinder.Find(work).Candidates.GroupBy(c => c.Name, StringComparer.Ordinal))
        {
            var c = named.First();
            if (!selected.Contains(c.Name) || named.Any(x => x.Problem != null)) continue;
            weights.Add((c.Name, c.Op, elementsOf[c.Name]));
        }
        return weights;
    }

    // The file's bytes as written: the proto with every tensor inline, plus nothing else (external data counted inline).
    private static long ModelBytes(OnnxModel model) =>
        model.Proto.CalculateSize() + Onnx.Tensors.ModelWalker.AllTensors(model.Proto).Where(Onnx.ExternalData.ExternalDataReference.IsExternal).Sum(t => model.GetTensorBytes(t).Length);

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

    private sealed record ActivationResult(IReadOnlyDictionary<string, (LocalCandidate Candidate, Sensitivity? Sensitivity)[]> Measured, IReadOnlyList<UniformBaseline> Uniform,
        Selection.Selection Selection, int SensitivityRuns);

    private static ActivationResult SelectActivations(OnnxModel work, CalibrationSamples samples, CaptureResult capture, IReadOnlyDictionary<string, IReadOnlyList<WeightUseInput>> uses,
        IReadOnlyDictionary<string, OcsDecision> ocs, Selection.Selection weights, Budget budget, CalibrationOptions options, Action<string> log, Action<string, int, int> progress)
    {
        using var gated = OnnxModel.FromProto(work.Proto.Clone(), work.ExternalData.Folder, work.Source);
        // Only the activations of quantized weights: the quantizer leaves a float32 weight's op (and its input) alone.
        var sites = ActivationSite.Find(gated)
            .Where(s => weights.Choices.TryGetValue(s.Weight, out var c) && c.Settings != null && capture.Activations.ContainsKey(s.Weight))
            .ToList();
        var inputs = sites.Select(s =>
        {
            var st = capture.Activations[s.Weight];
            int channels = st.K + (ocs.TryGetValue(s.Weight, out var d) ? d.Map.Count - d.Map.Sources.Distinct().Count() : 0);
            return new ActivationInput(s, st, channels);
        }).ToList();
        // Each site's layer: its captured rows and the working model's weight they multiply.
        var layers = new Dictionary<string, ActivationLayer>(StringComparer.Ordinal);
        foreach (var c in WeightFinder.Find(work).Candidates.Where(c => sites.Any(s => s.Weight == c.Name) && c.Groups.Count == 1))
            if (uses.TryGetValue(c.Name, out var u) && u.Count == 1 && u[0].Input is { } li && capture.Inputs.TryGetValue(li.Key, out var stats) && stats.Reservoir != null)
                layers[c.Name] = new ActivationLayer(stats, work.ReadFloat32(c.Constant.Tensor), c.Groups[0].Layout, ocs.GetValueOrDefault(c.Name));
        var gates = ActivationGates.Insert(gated, sites, options.ActCandidates);
        log($"activations: {inputs.Count} sites × {options.ActCandidates.Count} candidates");
        var chosen = weights.Choices.Where(c => c.Value.Settings != null).Select(c => KeyValuePair.Create(c.Key, c.Value.Settings)).ToList();
        using var swap = new WeightSwapModel(gated, chosen.Select(c => c.Key).ToList(), samples, gates.Off);
        var chosenWeights = swap.Quantized(chosen);
        bool kl = budget.MaxBits.HasValue && weights.Measured.MeanKl.HasValue;
        var (measured, uniform, selection) = ActivationSelector.Select(swap, gates, inputs, layers, options.ActCandidates, budget, chosenWeights, kl, options.MaxSensitivityRuns,
            line => log(line), (i, n) => progress("activation sensitivity", i, n));
        foreach (string line in selection.Log) log("activations: " + line);
        int runs = measured.Values.Select(m => m.FirstOrDefault().Sensitivity?.Group).Where(g => g != null).Distinct().Count();
        return new ActivationResult(measured, uniform, selection, runs);
    }

    private static RecipeActivation? ActivationEntry(string weight, IReadOnlyDictionary<string, TensorStatistics> stats, ActivationResult? result)
    {
        if (!stats.TryGetValue(weight, out var st)) return null;
        var outliers = st.OutlierChannels(ChannelSplitPlanner.OutlierFactor);
        if (result is null || !result.Selection.Choices.TryGetValue(weight, out var c))
            return new RecipeActivation(st.Name, false, null, null, null, null, st.Amax, st.Values.Percentile(0.999), outliers);
        var (m, s) = result.Measured[weight].First(x => x.Candidate.Candidate.Name == c.Name);
        long elements = Math.Max(1, (st.Rows + st.Tensors - 1) / Math.Max(1, st.Tensors) * st.K);
        var predicted = s is null ? OutputError.Zero : new OutputError(s.Nsr * m.Local, s.Kl is double k ? k * m.Local : null, null);
        return new RecipeActivation(st.Name, true, c.Settings, m.Bits / (double)elements, null, predicted, st.Amax, st.Values.Percentile(0.999), outliers);
    }

    private static string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Rss() => $"; RSS {F(ProcessMemory.ResidentBytes() / (double)(1L << 30))} GiB, peak {F(ProcessMemory.PeakResidentBytes() / (double)(1L << 30))} GiB";
}
