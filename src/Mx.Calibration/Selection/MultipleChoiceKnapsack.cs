namespace Mx.Calibration.Selection;

/// <summary>One choice of a group: what it costs (bits) and its value (predicted error).</summary>
public readonly record struct KnapsackItem(long Cost, double Value);

/// <summary>A choice per group with its totals.</summary>
/// <param name="Choice">Index of the chosen item in each group (indices of the caller's lists).</param>
/// <param name="Cost">Σ cost.</param>
/// <param name="Value">Σ value.</param>
/// <param name="Proven">Whether the search proved the choice optimal (false only when the state limit was reached; the best feasible choice found is returned).</param>
/// <param name="States">Dynamic-programming states kept in all (a measure of the work).</param>
public sealed record KnapsackSolution(int[] Choice, long Cost, double Value, bool Proven, long States);

/// <summary>
/// The multiple-choice knapsack, solved exactly: one item per group, minimising Σ value under Σ cost ≤ capacity
/// (<see cref="MinimizeValue"/>), or minimising Σ cost under Σ value ≤ a limit (<see cref="MinimizeCost"/>).
/// </summary>
/// <remarks>
/// Method: dynamic programming over groups on the Pareto frontier of (cost, value) states — after each group only
/// states that no other state beats in both cost and value are kept, which is exact because a dominated partial
/// choice can never complete to a better total. States are pruned by bounds: a Lagrangian (LP relaxation) bound of
/// the remaining groups — their lower convex hulls taken in order of error decrease per cost, fractionally — against
/// an incumbent found by the integral greedy on those hulls. The bound never exceeds the true completion, so pruning
/// keeps every state that could reach an optimum. Costs and values are exact (no rounding of the budget to a grid):
/// the frontier is over the exact bit counts. Ties are broken towards lower cost, then lower item indices in group
/// order (deterministic).
/// </remarks>
public static class MultipleChoiceKnapsack
{
    /// <summary>States the search may keep in all before it returns its best feasible choice unproven.</summary>
    public const long StateLimit = 20_000_000;

    /// <summary>Minimises Σ value subject to Σ cost ≤ <paramref name="capacity"/>; null when even the cheapest choice costs more.</summary>
    /// <exception cref="ArgumentException">A group is empty, or an item has a negative cost or a value that is not finite.</exception>
    public static KnapsackSolution? MinimizeValue(IReadOnlyList<IReadOnlyList<KnapsackItem>> groups, long capacity)
    {
        var p = Problem.Of(groups);
        if (p.MinCostSuffix[0] > capacity) return null;
        var incumbent = p.GreedyWithinCost(capacity);
        double bestValue = p.ValueOf(incumbent);
        double tol = Tolerance(bestValue);
        return p.Search(incumbent,
            keep: (g, cost, value) => cost + p.MinCostSuffix[g + 1] <= capacity && value + p.ValueBound(g + 1, capacity - cost - p.MinCostSuffix[g + 1]) <= bestValue + tol,
            better: (a, b) => a.Value < b.Value - Tolerance(b.Value) || (Math.Abs(a.Value - b.Value) <= Tolerance(b.Value) && a.Cost < b.Cost),
            feasible: (cost, _) => cost <= capacity);
    }

    /// <summary>Minimises Σ cost subject to Σ value ≤ <paramref name="maxValue"/>; null when even the lowest values sum to more.</summary>
    /// <exception cref="ArgumentException">A group is empty, or an item has a negative cost or a value that is not finite.</exception>
    public static KnapsackSolution? MinimizeCost(IReadOnlyList<IReadOnlyList<KnapsackItem>> groups, double maxValue)
    {
        var p = Problem.Of(groups);
        double tol = Tolerance(maxValue);
        if (p.MinValueSuffix[0] > maxValue + tol) return null;
        var incumbent = p.GreedyWithinValue(maxValue);
        long bestCost = p.CostOf(incumbent);
        return p.Search(incumbent,
            keep: (g, cost, value) => value + p.MinValueSuffix[g + 1] <= maxValue + tol && cost + p.CostBound(g + 1, maxValue - value) <= bestCost + 1e-9,
            better: (a, b) => a.Cost < b.Cost || (a.Cost == b.Cost && a.Value < b.Value),
            feasible: (_, value) => value <= maxValue + tol);
    }

    private static double Tolerance(double x) => 1e-12 * Math.Max(1, Math.Abs(x));

    // One hull segment: from item From to item To of a group (indices into its reduced list), with the cost added and the value removed.
    private readonly record struct Segment(int Group, long Cost, double Reduction)
    {
        public double Efficiency => Reduction / Cost;
    }

    private sealed class Problem
    {
        // Per group, the non-dominated items sorted by cost (strictly decreasing value), with the caller's indices.
        private readonly (long Cost, double Value, int Index)[][] _items;
        // Per group, the lower convex hull as positions into _items.
        private readonly int[][] _hulls;
        // Per suffix g: its hull segments sorted by efficiency, as prefix sums (cost, reduction) and the efficiencies; null beyond the memory cap.
        private readonly (long[] Cost, double[] Reduction, double[] Efficiency)?[] _suffix;

        private Problem((long, double, int)[][] items, int[][] hulls)
        {
            _items = items;
            _hulls = hulls;
            int g = items.Length;
            MinCostSuffix = new long[g + 1];
            MinValueSuffix = new double[g + 1];
            BaseValueSuffix = new double[g + 1];
            for (int i = g - 1; i >= 0; i--)
            {
                MinCostSuffix[i] = MinCostSuffix[i + 1] + items[i][0].Item1;
                BaseValueSuffix[i] = BaseValueSuffix[i + 1] + items[i][0].Item2;
                MinValueSuffix[i] = MinValueSuffix[i + 1] + items[i][^1].Item2;
            }
            _suffix = new (long[], double[], double[])?[g + 1];
            long total = 0;
            var merged = new List<Segment>();
            _suffix[g] = ([0], [0], []);
            for (int i = g - 1; i >= 0; i--)
            {
                merged = Merge(merged, SegmentsOf(i));
                total += merged.Count;
                if (total > 20_000_000) break;   // bounds for the earliest suffixes are skipped (weaker pruning, still exact)
                var cost = new long[merged.Count + 1];
                var red = new double[merged.Count + 1];
                var eff = new double[merged.Count];
                for (int s = 0; s < merged.Count; s++)
                {
                    cost[s + 1] = cost[s] + merged[s].Cost;
                    red[s + 1] = red[s] + merged[s].Reduction;
                    eff[s] = merged[s].Efficiency;
                }
                _suffix[i] = (cost, red, eff);
            }
        }

        public long[] MinCostSuffix { get; }

        public double[] MinValueSuffix { get; }

        // Σ value of each group's cheapest item, per suffix.
        private double[] BaseValueSuffix { get; }

        public static Problem Of(IReadOnlyList<IReadOnlyList<KnapsackItem>> groups)
        {
            ArgumentNullException.ThrowIfNull(groups);
            var items = new (long, double, int)[groups.Count][];
            var hulls = new int[groups.Count][];
            for (int g = 0; g < groups.Count; g++)
            {
                var list = groups[g] ?? throw new ArgumentException($"group {g} is null");
                if (list.Count == 0) throw new ArgumentException($"group {g} has no items");
                for (int j = 0; j < list.Count; j++)
                    if (list[j].Cost < 0 || !double.IsFinite(list[j].Value))
                        throw new ArgumentException($"group {g} item {j}: cost {list[j].Cost} and value {list[j].Value} (costs ≥ 0, values finite)");
                var sorted = list.Select((x, j) => (x.Cost, x.Value, Index: j)).OrderBy(x => x.Cost).ThenBy(x => x.Value).ThenBy(x => x.Index).ToList();
                var kept = new List<(long, double, int)>();
                foreach (var x in sorted)
                    if (kept.Count == 0 || x.Value < kept[^1].Item2) kept.Add(x);
                items[g] = kept.ToArray();
                hulls[g] = LowerHull(items[g]);
            }
            return new Problem(items, hulls);
        }

        // Positions of the lower convex hull of points sorted by cost with strictly decreasing value.
        private static int[] LowerHull((long Cost, double Value, int)[] points)
        {
            var hull = new List<int>();
            for (int i = 0; i < points.Length; i++)
            {
                while (hull.Count >= 2)
                {
                    var a = points[hull[^2]];
                    var b = points[hull[^1]];
                    var c = points[i];
                    // b is on or above the segment a–c: drop it (cross product in (cost, value)).
                    double cross = (double)(b.Cost - a.Cost) * (c.Value - a.Value) - (b.Value - a.Value) * (double)(c.Cost - a.Cost);
                    if (cross <= 0) hull.RemoveAt(hull.Count - 1);
                    else break;
                }
                hull.Add(i);
            }
            return hull.ToArray();
        }

        private List<Segment> SegmentsOf(int g)
        {
            var hull = _hulls[g];
            var result = new List<Segment>();
            for (int s = 1; s < hull.Length; s++)
            {
                var a = _items[g][hull[s - 1]];
                var b = _items[g][hull[s]];
                if (b.Cost > a.Cost) result.Add(new Segment(g, b.Cost - a.Cost, a.Value - b.Value));
            }
            return result;
        }

        private static List<Segment> Merge(List<Segment> a, List<Segment> b)
        {
            var result = new List<Segment>(a.Count + b.Count);
            int i = 0, j = 0;
            while (i < a.Count || j < b.Count)
                result.Add(j >= b.Count || (i < a.Count && a[i].Efficiency >= b[j].Efficiency) ? a[i++] : b[j++]);
            return result;
        }

        // A lower bound on Σ value of groups g.. given extra cost budget (beyond their cheapest items).
        public double ValueBound(int g, long extra)
        {
            if (_suffix[g] is not { } s) return MinValueSuffix[g];
            if (extra <= 0) return BaseValueSuffix[g];
            int t = Array.BinarySearch(s.Cost, extra);
            if (t >= 0) return BaseValueSuffix[g] - s.Reduction[t];
            t = ~t - 1;   // the last prefix that fits
            double reduction = s.Reduction[t] + (t < s.Efficiency.Length ? (extra - s.Cost[t]) * s.Efficiency[t] : 0);
            return Math.Max(MinValueSuffix[g], BaseValueSuffix[g] - reduction);
        }

        // A lower bound on Σ cost of groups g.. whose values must sum to at most allowance.
        public double CostBound(int g, double allowance)
        {
            double need = BaseValueSuffix[g] - allowance;
            if (need <= 0 || _suffix[g] is not { } s) return MinCostSuffix[g];
            int t = Array.BinarySearch(s.Reduction, need);
            if (t >= 0) return MinCostSuffix[g] + s.Cost[t];
            t = ~t - 1;
            if (t >= s.Efficiency.Length) return MinCostSuffix[g] + s.Cost[^1];
            return MinCostSuffix[g] + s.Cost[t] + (need - s.Reduction[t]) / s.Efficiency[t];
        }

        // Greedy on the hulls: cheapest items, then whole segments by efficiency while they fit (skipping a group once one does not).
        public int[] GreedyWithinCost(long capacity)
        {
            var pos = new int[_items.Length];
            long cost = MinCostSuffix[0];
            var blocked = new bool[_items.Length];
            foreach (var seg in AllSegments())
            {
                if (blocked[seg.Group]) continue;
                if (cost + seg.Cost > capacity)
                {
                    blocked[seg.Group] = true;
                    continue;
                }
                cost += seg.Cost;
                pos[seg.Group]++;
            }
            return Choice(pos);
        }

        // Greedy on the hulls: cheapest items, then segments by efficiency until the values sum to at most maxValue.
        public int[] GreedyWithinValue(double maxValue)
        {
            var pos = new int[_items.Length];
            double value = BaseValueSuffix[0];
            foreach (var seg in AllSegments())
            {
                if (value <= maxValue) break;
                value -= seg.Reduction;
                pos[seg.Group]++;
            }
            var choice = Choice(pos);
            // Rounding in the running sum can leave it a hair above: finish with each group's lowest-value item if needed.
            if (ValueOf(choice) > maxValue + Tolerance(maxValue))
                for (int g = 0; g < _items.Length; g++) choice[g] = _items[g].Length - 1;
            return choice;
        }

        private IEnumerable<Segment> AllSegments()
        {
            var all = new List<Segment>();
            for (int g = 0; g < _items.Length; g++) all = Merge(all, SegmentsOf(g));
            return all;
        }

        // Hull positions per group → positions into _items.
        private int[] Choice(int[] hullPositions) => hullPositions.Select((h, g) => _hulls[g][h]).ToArray();

        public double ValueOf(int[] positions)
        {
            double v = 0;
            for (int g = 0; g < positions.Length; g++) v += _items[g][positions[g]].Value;
            return v;
        }

        public long CostOf(int[] positions)
        {
            long c = 0;
            for (int g = 0; g < positions.Length; g++) c += _items[g][positions[g]].Cost;
            return c;
        }

        private readonly record struct State(long Cost, double Value, int Parent, int Item);

        /// <summary>The frontier search; <paramref name="incumbent"/> (positions into the reduced lists) is returned when nothing beats it.</summary>
        public KnapsackSolution Search(int[] incumbent, Func<int, long, double, bool> keep, Func<KnapsackSolution, KnapsackSolution, bool> better,
            Func<long, double, bool> feasible)
        {
            var stages = new List<State[]>(_items.Length);
            var current = new[] { new State(0, 0, -1, -1) };
            long states = 1;
            bool proven = true;
            for (int g = 0; g < _items.Length && proven; g++)
            {
                var next = new List<State>();
                for (int s = 0; s < current.Length; s++)
                    for (int j = 0; j < _items[g].Length; j++)
                    {
                        long cost = current[s].Cost + _items[g][j].Cost;
                        double value = current[s].Value + _items[g][j].Value;
                        if (keep(g, cost, value)) next.Add(new State(cost, value, s, j));
                    }
                next.Sort((a, b) => a.Cost != b.Cost ? a.Cost.CompareTo(b.Cost) : a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Parent != b.Parent ? a.Parent.CompareTo(b.Parent) : a.Item.CompareTo(b.Item));
                var frontier = new List<State>();
                foreach (var st in next)
                    if (frontier.Count == 0 || st.Value < frontier[^1].Value) frontier.Add(st);
                stages.Add(current);
                current = frontier.ToArray();
                states += current.Length;
                if (states > StateLimit) proven = false;
            }
            var best = Solution(incumbent, proven, states);
            if (!proven) return best;
            for (int s = 0; s < current.Length; s++)
            {
                if (!feasible(current[s].Cost, current[s].Value)) continue;
                var positions = new int[_items.Length];
                int at = s;
                for (int g = _items.Length - 1; g >= 0; g--)
                {
                    var st = g == _items.Length - 1 ? current[at] : stages[g + 1][at];
                    positions[g] = st.Item;
                    at = st.Parent;
                }
                var candidate = Solution(positions, true, states);
                if (better(candidate, best)) best = candidate;
            }
            return best with { Proven = true };
        }

        private KnapsackSolution Solution(int[] positions, bool proven, long states) =>
            new(positions.Select((p, g) => _items[g][p].Index).ToArray(), CostOf(positions), ValueOf(positions), proven, states);
    }
}
