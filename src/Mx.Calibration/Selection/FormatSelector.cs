using System.Globalization;
using Mx.Calibration.Evaluation;

namespace Mx.Calibration.Selection;

/// <summary>
/// Chooses one candidate per weight under a <see cref="Budget"/> from the single-weight measures: a greedy that starts
/// every weight at its cheapest candidate and repeatedly takes the upgrade with the largest error reduction per added
/// bit (per-weight errors are treated as additive), then verifies the combination by running the fully quantized
/// model, because they are not additive. See docs/calibration.md.
/// </summary>
public static class FormatSelector
{
    /// <summary>Rounds of re-targeting for <see cref="Budget.MinSqnrDb"/> when the verified SQNR falls short.</summary>
    public const int MaxRounds = 8;

    /// <summary>Selects formats.</summary>
    /// <param name="weights">The measured weights.</param>
    /// <param name="budget">The budget.</param>
    /// <param name="verify">Measures a full combination (runs the model).</param>
    /// <param name="uniform">The uniform baselines (measured), used as a safety net under a bits budget.</param>
    /// <exception cref="ArgumentException">The bits budget is below the cheapest combination; the message gives that minimum.</exception>
    public static Selection Select(IReadOnlyList<WeightSensitivity> weights, Budget budget,
        Func<IReadOnlyDictionary<string, FormatCandidate>, OutputError> verify, IReadOnlyList<UniformBaseline> uniform)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(budget);
        ArgumentNullException.ThrowIfNull(verify);
        if (weights.Count == 0)
            return new Selection(new Dictionary<string, FormatCandidate>(), 0, OutputError.Zero, true, ["no weights to calibrate"]);
        long elements = weights.Sum(w => w.OriginalElements);
        bool bitsMode = budget.MaxBits.HasValue;
        Func<CandidateMeasure, double> error = bitsMode ? m => m.Output.Objective : m => m.Output.Nsr;
        var frontiers = weights.Select(w => Frontier(w, error)).ToArray();
        var state = new int[weights.Count];
        var log = new List<string>();
        long Bits() => Enumerable.Range(0, weights.Count).Sum(i => frontiers[i][state[i]].Bits);
        double Avg(long bits) => bits / (double)elements;
        Dictionary<string, FormatCandidate> Choices() =>
            Enumerable.Range(0, weights.Count).ToDictionary(i => weights[i].Name, i => frontiers[i][state[i]].Candidate, StringComparer.Ordinal);

        if (bitsMode)
        {
            long cap = (long)Math.Floor(budget.MaxBits!.Value * elements);
            if (Bits() > cap)
                throw new ArgumentException($"--max-bits {F(budget.MaxBits.Value)} is below the cheapest combination of the candidates ({F(Avg(Bits()))} bits per weight)");
            Greedy(frontiers, state, error, cap, stop: null);
            var choices = Choices();
            var measured = verify(choices);
            double avg = Avg(Bits());
            log.Add($"greedy: {F(avg)} bits/weight, predicted objective {F(Predicted(frontiers, state, error))}, measured {F(measured.Objective)}");
            // Per-weight errors are not additive (badly so when most weights are at 4 bits): a greedy whose every step is
            // measured on the whole model, starting from the cheapest combination, often finds a better combination.
            var refined = MeasuredGreedy(frontiers, state, Choices, verify, cap, out var refinedState, out int evals);
            if (refined.Objective < measured.Objective)
            {
                Array.Copy(refinedState, state, state.Length);
                choices = Choices();
                measured = refined;
                avg = Avg(Bits());
                log.Add($"measured greedy ({evals} runs): {F(avg)} bits/weight, measured {F(measured.Objective)}: taken");
            }
            else
            {
                log.Add($"measured greedy ({evals} runs): measured {F(refined.Objective)}, not better");
            }
            // A uniform choice within the budget can still measure better.
            var better = uniform.Where(u => u.AverageBits <= budget.MaxBits.Value && u.Measured.Objective < measured.Objective)
                .OrderBy(u => u.Measured.Objective).FirstOrDefault();
            if (better != null)
            {
                log.Add($"uniform {better.Candidate.Name} measures better ({F(better.Measured.Objective)}) within the budget: taken instead");
                choices = weights.ToDictionary(w => w.Name, _ => better.Candidate, StringComparer.Ordinal);
                return new Selection(choices, better.AverageBits, better.Measured, true, log);
            }
            return new Selection(choices, avg, measured, true, log);
        }

        double target = Math.Pow(10, -budget.MinSqnrDb!.Value / 10), aim = target;
        OutputError last = OutputError.Zero;
        for (int round = 1; round <= MaxRounds; round++)
        {
            Greedy(frontiers, state, error, long.MaxValue, stop: () => Predicted(frontiers, state, error) <= aim);
            last = verify(Choices());
            log.Add($"round {round}: {F(Avg(Bits()))} bits/weight, predicted SQNR {F(-10 * Math.Log10(Math.Max(Predicted(frontiers, state, error), 1e-300)))} dB, measured {F(last.SqnrDb)} dB");
            if (last.Nsr <= target) return new Selection(Choices(), Avg(Bits()), last, true, log);
            if (state.Select((s, i) => s == frontiers[i].Count - 1).All(x => x))
            {
                log.Add("every weight is at its most accurate candidate and the target is still missed");
                break;
            }
            // Aim lower by the ratio the prediction was off, at least by half.
            aim = Math.Min(aim / 2, aim * target / last.Nsr);
        }
        return new Selection(Choices(), Avg(Bits()), last, false, log);
    }

    /// <summary>Evaluations the measured greedy may spend, per weight.</summary>
    public const int MeasuredRunsPerWeight = 40;

    // From the cheapest combination, repeatedly measure each weight's next frontier step in the context of the current
    // combination and take the one with the best measured error decrease per added bit.
    private static OutputError MeasuredGreedy(List<CandidateMeasure>[] frontiers, int[] state, Func<Dictionary<string, FormatCandidate>> choicesOf,
        Func<IReadOnlyDictionary<string, FormatCandidate>, OutputError> verify, long cap, out int[] final, out int evals)
    {
        // choicesOf reads the caller's state array: step it in place and restore it at the end.
        int count = state.Length;
        var saved = (int[])state.Clone();
        Array.Clear(state);
        long bits = Enumerable.Range(0, count).Sum(i => frontiers[i][0].Bits);
        var current = verify(choicesOf());
        evals = 1;
        int limit = MeasuredRunsPerWeight * count;
        while (evals < limit)
        {
            int best = -1;
            double bestRatio = 0;
            OutputError? bestError = null;
            for (int i = 0; i < count && evals < limit; i++)
            {
                if (state[i] + 1 >= frontiers[i].Count) continue;
                long db = frontiers[i][state[i] + 1].Bits - frontiers[i][state[i]].Bits;
                if (bits + db > cap) continue;
                state[i]++;
                var e = verify(choicesOf());
                evals++;
                state[i]--;
                double ratio = (current.Objective - e.Objective) / Math.Max(1, db);
                if (ratio > bestRatio)
                {
                    bestRatio = ratio;
                    best = i;
                    bestError = e;
                }
            }
            if (best < 0) break;
            bits += frontiers[best][state[best] + 1].Bits - frontiers[best][state[best]].Bits;
            state[best]++;
            current = bestError!;
        }
        final = (int[])state.Clone();
        Array.Copy(saved, state, count);
        return current;
    }

    /// <summary>The candidates worth considering, by increasing bits: each must have a lower error than every cheaper one.</summary>
    internal static List<CandidateMeasure> Frontier(WeightSensitivity w, Func<CandidateMeasure, double> error)
    {
        var list = new List<CandidateMeasure>();
        foreach (var m in w.Measures.OrderBy(m => m.Bits).ThenBy(error))
            if (list.Count == 0 || error(m) < error(list[^1])) list.Add(m);
        return list;
    }

    private static double Predicted(List<CandidateMeasure>[] frontiers, int[] state, Func<CandidateMeasure, double> error) =>
        Enumerable.Range(0, state.Length).Sum(i => error(frontiers[i][state[i]]));

    // Upgrades by the best error reduction per added bit until nothing fits under the cap or stop() holds.
    private static void Greedy(List<CandidateMeasure>[] frontiers, int[] state, Func<CandidateMeasure, double> error, long cap, Func<bool>? stop)
    {
        long bits = Enumerable.Range(0, state.Length).Sum(i => frontiers[i][state[i]].Bits);
        while (stop?.Invoke() != true)
        {
            int bestW = -1, bestJ = -1;
            double bestRatio = 0;
            for (int i = 0; i < state.Length; i++)
            {
                var f = frontiers[i];
                var cur = f[state[i]];
                for (int j = state[i] + 1; j < f.Count; j++)
                {
                    long db = f[j].Bits - cur.Bits;
                    if (bits + db > cap) break;
                    double ratio = (error(cur) - error(f[j])) / Math.Max(1, db);
                    if (ratio > bestRatio)
                    {
                        bestRatio = ratio;
                        bestW = i;
                        bestJ = j;
                    }
                }
            }
            if (bestW < 0) return;
            bits += frontiers[bestW][bestJ].Bits - frontiers[bestW][state[bestW]].Bits;
            state[bestW] = bestJ;
        }
    }

    private static string F(double x) => x.ToString("0.####", CultureInfo.InvariantCulture);
}
