using Mx.Calibration.Capture;
using Mx.Calibration.Ocs;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Calibration.Linear;

namespace Mx.Calibration.Selection;

/// <summary>One candidate of one weight: what it stores and the layer-local error it causes.</summary>
/// <param name="Candidate">The format (fp32: no error).</param>
/// <param name="Bits">Stored bits (one packing per layout, scales included; fp32 once per constant).</param>
/// <param name="Local">Σ over the weight's uses of the layer-output error Σ‖x·(W − Q)‖² on the calibration rows.</param>
/// <param name="TensorSqnrDb">The weight's own SQNR (+∞ for fp32).</param>
public sealed record LocalCandidate(FormatCandidate Candidate, long Bits, double Local, double TensorSqnrDb);

/// <summary>A weight's candidates with their layer-local errors.</summary>
/// <param name="Name">The weight.</param>
/// <param name="Op">The op reading it.</param>
/// <param name="Layout">Its (first) MX layout.</param>
/// <param name="OriginalElements">Elements before any channel split (the bits budget divides by these).</param>
/// <param name="Energy">Σ over uses of Σ‖x·W‖² (the layer outputs' energy), so Local / Energy is the layer's own NSR.</param>
/// <param name="Methods">How each use's error was computed.</param>
/// <param name="Candidates">One per candidate, in candidate order.</param>
public sealed record WeightErrors(string Name, string Op, WeightLayout Layout, long OriginalElements, double Energy, IReadOnlyList<LocalErrorMethod> Methods,
    IReadOnlyList<LocalCandidate> Candidates)
{
    /// <summary>The cheapest candidate that quantizes (the one sensitivity runs use), or null when every candidate is fp32.</summary>
    public LocalCandidate? Coarsest => Candidates.Where(c => c.Candidate.Settings != null).OrderBy(c => c.Bits).ThenByDescending(c => c.Local).FirstOrDefault();
}

/// <summary>One use of a weight in the original model and its captured input (null when it could not be captured).</summary>
/// <param name="Key">The use: the reading node's first output and the input slot.</param>
/// <param name="Input">Its layer input, or null.</param>
/// <param name="Why">Why the input was not captured (null when it was).</param>
public sealed record WeightUseInput(string Key, LayerInput? Input, string? Why)
{
    /// <summary>The key of a use.</summary>
    public static string KeyOf(WeightUse use) => $"{use.Node.Output.FirstOrDefault()}#{use.InputIndex}";
}

/// <summary>
/// The layer-local error of every candidate of every weight: the weight (as the working, possibly channel-split model
/// holds it) is fake-quantized exactly as the quantizer would (<see cref="FakeQuant"/>), and Δ = W − Q is weighed by
/// each use's captured input (<see cref="LocalError"/>). A channel-split weight is compared in the original channel
/// space through its effective weight (the sum of each channel's quantized pieces, times the activation factors of an
/// activation-side split), against the original model's H. Each weight's values and H are read once for all candidates.
/// </summary>
public static class WeightErrorTable
{
    /// <summary>Computes the table.</summary>
    /// <param name="original">The model the capture ran on.</param>
    /// <param name="work">The working model (channel splits applied).</param>
    /// <param name="weights">The weights (name, op, original elements).</param>
    /// <param name="uses">Per weight, its uses in the original model.</param>
    /// <param name="capture">The captured statistics.</param>
    /// <param name="ocs">Channel splits by weight.</param>
    /// <param name="candidates">The candidate formats.</param>
    /// <param name="maxGramK">Above this K the reservoir is used rather than H (<see cref="LocalError.MethodFor"/>).</param>
    /// <param name="progress">Called with (weights done, weights).</param>
    public static IReadOnlyList<WeightErrors> Compute(OnnxModel original, OnnxModel work, IReadOnlyList<(string Name, string Op, long OriginalElements)> weights,
        IReadOnlyDictionary<string, IReadOnlyList<WeightUseInput>> uses, CaptureResult capture, IReadOnlyDictionary<string, OcsDecision> ocs,
        IReadOnlyList<FormatCandidate> candidates, int maxGramK, Action<int, int>? progress = null)
    {
        var found = WeightFinder.Find(work).Candidates.ToLookup(c => c.Name, StringComparer.Ordinal);
        var result = new List<WeightErrors>();
        for (int w = 0; w < weights.Count; w++)
        {
            var (name, op, elements) = weights[w];
            var constants = found[name].ToList();
            var useInputs = uses[name].ToDictionary(u => u.Key, StringComparer.Ordinal);
            LayerInputStatistics? StatsOf(WeightUse use) =>
                useInputs.TryGetValue(WeightUseInput.KeyOf(use), out var u) && u.Input != null ? capture.Inputs.GetValueOrDefault(u.Input.Key) : null;

            // What is quantized (per constant and layout group) and where each Δ is weighed.
            var parts = new List<Part>();
            if (ocs.TryGetValue(name, out var split))
            {
                var c = constants.Single();
                var target = split.Target;
                var originalUse = WeightFinder.Find(original).Candidates.Single(x => x.Name == name);
                var stats = StatsOf(originalUse.Uses[0]);
                float[] w0 = Read(original, originalUse.Constant.Tensor);
                parts.Add(new Part(Read(work, c.Constant.Tensor), c.Groups[0].Layout, true, [(stats, originalUse.Groups[0].Layout)], split, w0));
            }
            else
            {
                foreach (var c in constants)
                {
                    float[] values = Read(work, c.Constant.Tensor);
                    for (int g = 0; g < c.Groups.Count; g++)
                        parts.Add(new Part(values, c.Groups[g].Layout, g == 0, c.Groups[g].Uses.Select(u => (StatsOf(u), c.Groups[g].Layout)).ToList(), null, null));
                }
            }
            var methods = parts.SelectMany(p => p.Sites.Select(s => LocalError.MethodFor(s.Stats, maxGramK))).ToList();
            // H of each site, read once for all candidates.
            var hessians = new Dictionary<LayerInputStatistics, IReadOnlyList<double[]>>();
            int site = 0;
            foreach (var p in parts)
                foreach (var (stats, _) in p.Sites)
                {
                    var method = methods[site++];
                    if (stats != null && method == LocalErrorMethod.Gram && !hessians.ContainsKey(stats))
                        hessians[stats] = Enumerable.Range(0, stats.Input.Groups).Select(g => stats.Hessian(g)).ToArray();
                }

            double Error(Part p, float[] delta, ref int s)
            {
                double e = 0;
                foreach (var (stats, layout) in p.Sites)
                    e += LocalError.Compute(stats, layout, delta, methods[s++], stats != null ? hessians.GetValueOrDefault(stats) : null);
                return e;
            }

            double energy = 0;
            {
                int s = 0;
                foreach (var p in parts) energy += Error(p, p.Original ?? p.Values, ref s);
            }
            var measures = new List<LocalCandidate>();
            // The weight's own SQNR counts each constant's values once (its first layout; a split weight as split).
            double signal = parts.Where(p => p.FirstOfConstant || p.Split != null).Sum(p => LayerError.SumOfSquares(p.Values));
            foreach (var candidate in candidates)
            {
                if (candidate.Settings is null)
                {
                    long fp32 = parts.Where(p => p.FirstOfConstant).Sum(p => candidate.StoredBits(p.Values.LongLength / p.Layout.K, p.Layout.K));
                    measures.Add(new LocalCandidate(candidate, fp32, 0, double.PositiveInfinity));
                    continue;
                }
                long bits = parts.Sum(p => candidate.StoredBits(p.Values.LongLength / p.Layout.K, p.Layout.K));
                double local = 0, noise = 0;
                int s = 0;
                foreach (var p in parts)
                {
                    float[] q = FakeQuant.Apply(p.Values, p.Layout, candidate.Settings);
                    if (p.FirstOfConstant || p.Split != null) noise += SquaredDifference(p.Values, q);
                    local += Error(p, p.DeltaOf(q), ref s);
                }
                double sqnr = noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
                measures.Add(new LocalCandidate(candidate, bits, local, sqnr));
            }
            result.Add(new WeightErrors(name, op, constants[0].Groups[0].Layout, elements, energy, methods, measures));
            // Each candidate made a quantized copy, Δ and Δ in float64 of every packing.
            LargeGarbage.Collect(parts.Sum(p => p.Values.LongLength) * 16 * candidates.Count);
            progress?.Invoke(w + 1, weights.Count);
        }
        return result;
    }

    // A weight's values; an external weight's mapped pages are released at once (one weight is resident at a time).
    private static float[] Read(OnnxModel model, Mx.Onnx.Proto.TensorProto tensor)
    {
        float[] values = model.ReadFloat32(tensor);
        model.ReleasePages(tensor);
        return values;
    }

    private static double SquaredDifference(float[] a, float[] b)
    {
        double e = 0;
        for (int i = 0; i < a.Length; i++) e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return e;
    }

    // One packing of a weight (a constant in one layout) and the uses whose inputs weigh its Δ. For a split weight the
    // packing is the split weight, and Δ is taken between the original weight and the effective (folded) weight.
    private sealed record Part(float[] Values, WeightLayout Layout, bool FirstOfConstant, IReadOnlyList<(LayerInputStatistics? Stats, WeightLayout Layout)> Sites,
        OcsDecision? Split, float[]? Original)
    {
        public float[] DeltaOf(float[] q)
        {
            if (Split is null)
            {
                var d = new float[Values.Length];
                for (int i = 0; i < d.Length; i++) d[i] = Values[i] - q[i];
                return d;
            }
            var view = Split.Target.View;
            var mappedView = view.WithK(Split.Map.Count);
            var pieces = q;
            if (Split.Side == OcsSide.Activation)
            {
                // The activation's pieces carry the factors; the weight's duplicated rows are unscaled.
                pieces = (float[])q.Clone();
                for (int j = 0; j < Split.Map.Count; j++)
                    for (int n = 0; n < view.N; n++) pieces[mappedView.Index(j, n)] *= Split.Map.Factors[j];
            }
            float[] effective = view.Fold(pieces, Split.Map);
            var delta = new float[effective.Length];
            for (int i = 0; i < delta.Length; i++) delta[i] = Original![i] - effective[i];
            return delta;
        }
    }
}
