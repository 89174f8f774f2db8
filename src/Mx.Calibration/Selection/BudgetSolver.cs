using System.Globalization;
using Mx.Calibration.Evaluation;

namespace Mx.Calibration.Selection;

/// <summary>One candidate of one tensor, as the solver sees it: stored bits and predicted errors.</summary>
/// <param name="Candidate">The format.</param>
/// <param name="Bits">Stored bits.</param>
/// <param name="Objective">Predicted contribution to the objective (KL or NSR) when this tensor alone takes this candidate.</param>
/// <param name="Nsr">Predicted contribution to the output NSR.</param>
public sealed record PlanItem(FormatCandidate Candidate, long Bits, double Objective, double Nsr);

/// <summary>A tensor with its candidates.</summary>
/// <param name="Name">The tensor (weight name; for activations, the weight of the site).</param>
/// <param name="Elements">Elements the bits average divides by.</param>
/// <param name="Items">Its candidates.</param>
public sealed record PlanGroup(string Name, long Elements, IReadOnlyList<PlanItem> Items);

/// <summary>
/// Chooses one candidate per tensor under a budget with the exact multiple-choice knapsack
/// (<see cref="MultipleChoiceKnapsack"/>) on predicted errors — additive per-tensor errors, each the tensor's
/// layer-local error weighed by its measured sensitivity — and verifies the choice with at most
/// <see cref="MaxVerifications"/> runs of the whole model.
/// </summary>
/// <remarks>
/// <para>Under a bits cap: the knapsack's plan runs; the uniform configuration within the cap with the lowest predicted
/// error runs too (a safety net: the result is never worse than it on the calibration data). When a plan's measured
/// objective is more than 2× its predicted one (the additive model is off, as when many tensors interact at 4 bits),
/// the plan falls back to the next budget point — the optimum under a cap just below that plan's bits, a different
/// trade-off — which is verified in turn, until one agrees within 2× or the runs are spent. The best measured plan is
/// kept, and the log says what ran and why.</para>
/// <para>Under an SQNR floor: the cheapest plan whose predicted NSR meets the target runs; while the measured NSR
/// misses the target, the next better budget point (a predicted-NSR aim lowered by the ratio the prediction was off,
/// at least halved) is solved and verified.</para>
/// </remarks>
public static class BudgetSolver
{
    /// <summary>Most whole-model runs the verification makes.</summary>
    public const int MaxVerifications = 5;

    /// <summary>A plan whose measured objective is more than this many times its predicted one falls back.</summary>
    public const double DisagreementFactor = 2;

    /// <summary>Solves and verifies.</summary>
    /// <param name="groups">The tensors.</param>
    /// <param name="budget">Bits cap (per element) or SQNR floor.</param>
    /// <param name="verify">Runs the model with a combination (tensor name → candidate) and measures its error.</param>
    /// <param name="capBits">The bits cap as a total; null to derive it from <see cref="Budget.MaxBits"/> and the elements.</param>
    /// <param name="uniform">Receives the uniform configurations (bits, predicted, measured where run).</param>
    /// <exception cref="ArgumentException">The bits cap is below the cheapest combination; the message gives that minimum.</exception>
    public static Selection Solve(IReadOnlyList<PlanGroup> groups, Budget budget, Func<IReadOnlyDictionary<string, FormatCandidate>, OutputError> verify,
        out IReadOnlyList<UniformBaseline> uniform, long? capBits = null)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(budget);
        ArgumentNullException.ThrowIfNull(verify);
        long elements = Math.Max(1, groups.Sum(g => g.Elements));
        var names = groups.Select(g => g.Items.Select(i => i.Candidate.Name).ToList()).ToList();
        var candidates = groups.SelectMany(g => g.Items.Select(i => i.Candidate)).DistinctBy(c => c.Name).ToList();
        var uniformList = candidates.Select(c => (Candidate: c, Choice: names.Select(n => n.IndexOf(c.Name)).ToArray()))
            .Where(u => u.Choice.All(i => i >= 0)).ToList();
        double Avg(long bits) => bits / (double)elements;
        long BitsOf(int[] choice) => choice.Select((j, g) => groups[g].Items[j].Bits).Sum();
        double Objective(int[] choice, bool nsr) => choice.Select((j, g) => nsr ? groups[g].Items[j].Nsr : groups[g].Items[j].Objective).Sum();
        Dictionary<string, FormatCandidate> Choices(int[] choice) =>
            groups.Select((g, i) => (g.Name, g.Items[choice[i]].Candidate)).ToDictionary(x => x.Name, x => x.Candidate, StringComparer.Ordinal);
        var log = new List<string>();
        var verified = new List<(VerifiedPlan Plan, int[] Choice)>();
        var measuredUniform = new Dictionary<string, OutputError>(StringComparer.Ordinal);
        if (groups.Count == 0)
        {
            uniform = [];
            return new Selection(new Dictionary<string, FormatCandidate>(), 0, OutputError.Zero, true, ["nothing to calibrate"]);
        }
        OutputError Run(int[] choice, string label, string note, bool nsr)
        {
            var m = verify(Choices(choice));
            verified.Add((new VerifiedPlan(label, Avg(BitsOf(choice)), Objective(choice, nsr), m, false, note), choice));
            log.Add($"{label}: {F(Avg(BitsOf(choice)))} bits, predicted {F(Objective(choice, nsr))}, measured {F(nsr ? m.Nsr : m.Objective)}{(note.Length > 0 ? " — " + note : "")}");
            return m;
        }

        Selection result;
        if (budget.MaxBits is double maxBits)
        {
            // A cap given as an average (often another plan's own average) must not lose a bit to floating-point rounding.
            double exact = maxBits * elements;
            long cap = capBits ?? (long)Math.Floor(exact + Math.Max(1e-6, exact * 1e-12));
            var items = groups.Select(g => (IReadOnlyList<KnapsackItem>)g.Items.Select(i => new KnapsackItem(i.Bits, i.Objective)).ToList()).ToList();
            var plan = MultipleChoiceKnapsack.MinimizeValue(items, cap)
                ?? throw new ArgumentException($"--max-bits {F(maxBits)} is below the cheapest combination of the candidates ({F(Avg(groups.Sum(g => g.Items.Min(i => i.Bits))))} bits per weight)");
            log.Add($"knapsack: {groups.Count} tensors, {plan.States} states{(plan.Proven ? "" : ", state limit reached: best found, not proven optimal")}");
            var m = Run(plan.Choice, "knapsack", "", nsr: false);
            // Safety net: the uniform configuration within the cap predicted best.
            var safety = uniformList.Where(u => u.Candidate.Settings != null && BitsOf(u.Choice) <= cap).OrderBy(u => Objective(u.Choice, false)).FirstOrDefault();
            if (safety.Choice != null && !safety.Choice.SequenceEqual(plan.Choice))
                measuredUniform[safety.Candidate.Name] = Run(safety.Choice, $"uniform {safety.Candidate.Name}", "the uniform format within the budget predicted best", nsr: false);
            // Fallback along the budget frontier while the prediction is off by more than 2×.
            var last = (Choice: plan.Choice, Measured: m);
            for (int k = 1; verified.Count < MaxVerifications && Disagrees(Objective(last.Choice, false), last.Measured.Objective); k++)
            {
                long below = BitsOf(last.Choice) - 1;
                var next = MultipleChoiceKnapsack.MinimizeValue(items, below);
                if (next is null) break;
                var measured = Run(next.Choice, $"fallback {k}", $"the previous plan measured more than {F(DisagreementFactor)}× its prediction; next budget point: optimum under {F(Avg(below))} bits", nsr: false);
                last = (next.Choice, measured);
            }
            var best = verified.OrderBy(v => v.Plan.Measured.Objective).ThenBy(v => v.Plan.AverageBits).First();
            result = Finish(best, $"{best.Plan.Label} measures best ({F(best.Plan.Measured.Objective)})", nsr: false, met: true);
        }
        else
        {
            double target = Math.Pow(10, -budget.MinSqnrDb!.Value / 10), aim = target;
            var items = groups.Select(g => (IReadOnlyList<KnapsackItem>)g.Items.Select(i => new KnapsackItem(i.Bits, i.Nsr)).ToList()).ToList();
            int[] mostAccurate = groups.Select(g => g.Items.Select((x, j) => (x, j)).OrderBy(p => p.x.Nsr).ThenBy(p => p.x.Bits).First().j).ToArray();
            (VerifiedPlan Plan, int[] Choice)? met = null;
            for (int round = 1; verified.Count < MaxVerifications; round++)
            {
                var plan = MultipleChoiceKnapsack.MinimizeCost(items, aim);
                int[] choice = plan?.Choice ?? mostAccurate;
                if (verified.Count > 0 && choice.SequenceEqual(verified[^1].Choice)) break;
                var m = Run(choice, $"round {round}", round == 1 ? "" : "the previous plan missed the target; next better budget point", nsr: true);
                if (m.Nsr <= target)
                {
                    met = verified[^1];
                    break;
                }
                if (plan is null)
                {
                    log.Add("every tensor is at its most accurate candidate and the target is still missed");
                    break;
                }
                aim = Math.Min(aim / 2, aim * target / Math.Max(m.Nsr, double.Epsilon));
            }
            var chosen = met ?? verified.OrderBy(v => v.Plan.Measured.Nsr).First();
            result = Finish(chosen, met is null ? "the target is missed; the most accurate plan measured is kept" : $"{chosen.Plan.Label} meets the target", nsr: true, met: met != null);
        }
        uniform = uniformList.Select(u => new UniformBaseline(u.Candidate, Avg(BitsOf(u.Choice)), Objective(u.Choice, budget.MaxBits is null),
            measuredUniform.GetValueOrDefault(u.Candidate.Name) ?? (u.Candidate.Settings is null ? OutputError.Zero : null))).ToList();
        return result;

        Selection Finish((VerifiedPlan Plan, int[] Choice) best, string why, bool nsr, bool met)
        {
            log.Add(why);
            var plans = verified.Select(v => ReferenceEquals(v.Plan, best.Plan) ? v.Plan with { Taken = true } : v.Plan).ToList();
            return new Selection(Choices(best.Choice), Avg(BitsOf(best.Choice)), best.Plan.Measured, met, log)
            {
                Verified = plans,
                Predicted = Objective(best.Choice, nsr),
            };
        }
    }

    /// <summary>Whether a measured objective is more than <see cref="DisagreementFactor"/>× the predicted one.</summary>
    public static bool Disagrees(double predicted, double measured) => measured > DisagreementFactor * predicted && measured > 1e-12;

    private static string F(double x) => x.ToString("G4", CultureInfo.InvariantCulture);
}
