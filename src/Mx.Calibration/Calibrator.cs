using Mx.Calibration.Data;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration;

/// <summary>
/// Calibrates a model: optional outlier channel splitting, per-weight sensitivity to each candidate format measured
/// on calibration samples, format selection under a budget, verification of the final combination, and the recipe
/// <c>mx quantize --recipe</c> applies. The input model is not modified.
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
        var original = WeightFinder.Find(model).Candidates.ToDictionary(c => c.Name, c => c, StringComparer.Ordinal);
        using var work = OnnxModel.FromBytes(model.ToBytes(), sourceName: model.Source);

        var ocs = new Dictionary<string, (OcsDecision Decision, string Via)>(StringComparer.Ordinal);
        if (options.OcsRatio > 0 && quantizable.Count > 0)
        {
            var reference = quantizable.OrderBy(c => c.StoredBits(1, 1024)).First().Settings!;
            foreach (var target in OcsTarget.Find(work))
            {
                if (!original.TryGetValue(target.Name, out var oc) || oc.ElementCount < options.MinElements) continue;
                float[] w = work.ReadFloat32(work.FindInitializer(target.Name)!);
                if (OcsPlanner.Plan(target, w, options.OcsRatio, options.OcsReorder, reference) is not { } d) continue;
                // Rewriting moves other weights' activations (a fold into a producer), so find the target again.
                string via = OcsRewriter.Apply(work, target.Name, d.Map);
                ocs[target.Name] = (d, via);
                log($"ocs {target.Name}: {d.Map.SplitChannels.Count} channels split ({d.Map.Count - target.View.K} added{(d.Reordered ? ", outliers grouped" : "")}), via {via}; outlier blocks {d.BlocksBefore.OutlierBlocks} → {d.BlocksAfter.OutlierBlocks}");
            }
        }

        var weights = WeightFinder.Find(work).Candidates
            .Where(c => c.Problem is null && c.Groups.Count == 1 && original.ContainsKey(c.Name) && original[c.Name].ElementCount >= options.MinElements
                        && work.FindInitializer(c.Name) is not null && ReferenceEquals(c.Constant.Graph.Proto, work.Proto.Graph))
            .Select(c => (c.Name, c.Op, c.Groups[0].Layout, original[c.Name].ElementCount)).ToList();
        log($"measuring {weights.Count} weights × {options.Candidates.Count} candidates on {samples.Samples.Count} samples");
        using var swap = new WeightSwapModel(work, weights.Select(w => w.Name).ToList(), samples);
        var measured = SensitivityAnalyzer.Measure(swap, weights, options.Candidates, (i, n, name) => log($"[{i + 1}/{n}] {name}"));

        OutputError Verify(IReadOnlyDictionary<string, FormatCandidate> choices) =>
            swap.Evaluate(measured.Where(w => choices[w.Name].Settings != null)
                .ToDictionary(w => w.Name, w => FakeQuant.Apply(swap.Original(w.Name), w.Layout, choices[w.Name].Settings!), StringComparer.Ordinal));

        long elements = Math.Max(1, measured.Sum(w => w.OriginalElements));
        var uniform = options.Candidates.Select(c =>
        {
            var choices = measured.ToDictionary(w => w.Name, _ => c, StringComparer.Ordinal);
            double bits = measured.Sum(w => w.Measures.First(m => m.Candidate.Name == c.Name).Bits) / (double)elements;
            return new UniformBaseline(c, bits, c.Settings is null ? OutputError.Zero : Verify(choices));
        }).ToList();
        foreach (var u in uniform) log($"uniform {u.Candidate.Name}: {u.AverageBits:0.###} bits, objective {u.Measured.Objective:G4}, SQNR {u.Measured.SqnrDb:0.##} dB");

        var selection = FormatSelector.Select(measured, options.Budget, Verify, uniform);
        foreach (string line in selection.Log) log(line);

        var tensors = measured.Select(w =>
        {
            var c = selection.Choices[w.Name];
            var m = w.Measures.First(x => x.Candidate.Name == c.Name);
            ocs.TryGetValue(w.Name, out var o);
            return new RecipeTensor(w.Name, w.Op, c.Settings, m.Bits / (double)w.OriginalElements, c.Settings is null ? null : m.TensorSqnrDb, m.Output,
                o.Decision?.Map, o.Via, o.Decision?.BlocksBefore, o.Decision?.BlocksAfter);
        }).ToList();
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
            AverageBits = selection.AverageBits,
            BudgetMet = selection.BudgetMet,
            Measured = selection.Measured,
            Tensors = tensors,
            Uniform = uniform.Select(u => (u.Candidate.Name, u.AverageBits, u.Measured)).ToList(),
            Log = selection.Log,
        };
    }
}
