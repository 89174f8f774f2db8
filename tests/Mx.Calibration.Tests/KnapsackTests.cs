using Mx.Calibration.Selection;

namespace Mx.Calibration.Tests;

/// <summary>The exact multiple-choice knapsack against brute force (small instances) and an integer-cost DP (larger ones).</summary>
public class KnapsackTests
{
    private static List<List<KnapsackItem>> Instance(Random r, int groups, int maxItems, int maxCost, bool ties)
    {
        var result = new List<List<KnapsackItem>>();
        for (int g = 0; g < groups; g++)
        {
            int n = 1 + r.Next(maxItems);
            var items = new List<KnapsackItem>();
            for (int j = 0; j < n; j++)
            {
                // Ties: costs and values drawn from a few levels, so equal totals are common.
                long cost = r.Next(maxCost + 1);
                double value = ties ? r.Next(4) : Math.Round(r.NextDouble() * 10, 3);
                items.Add(new KnapsackItem(cost, value));
            }
            result.Add(items);
        }
        return result;
    }

    private static IEnumerable<int[]> All(List<List<KnapsackItem>> groups)
    {
        var choice = new int[groups.Count];
        while (true)
        {
            yield return (int[])choice.Clone();
            int g = 0;
            while (g < groups.Count && ++choice[g] == groups[g].Count) choice[g++] = 0;
            if (g == groups.Count) yield break;
        }
    }

    private static (long Cost, double Value) Totals(List<List<KnapsackItem>> groups, int[] choice) =>
        (choice.Select((j, g) => groups[g][j].Cost).Sum(), choice.Select((j, g) => groups[g][j].Value).Sum());

    [Test]
    public void MinimizeValueMatchesBruteForce([Values(false, true)] bool ties)
    {
        var r = new Random(ties ? 7 : 3);
        int infeasible = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var groups = Instance(r, 1 + r.Next(6), 4, 9, ties);
            long capacity = r.Next(-2, 40);
            var brute = All(groups).Select(c => Totals(groups, c)).Where(t => t.Cost <= capacity).Select(t => (double?)t.Value).Min();
            var solved = MultipleChoiceKnapsack.MinimizeValue(groups, capacity);
            if (brute is null)
            {
                Assert.That(solved, Is.Null, $"trial {trial}: infeasible capacity {capacity}");
                infeasible++;
                continue;
            }
            Assert.That(solved, Is.Not.Null, $"trial {trial}");
            var (cost, value) = Totals(groups, solved!.Choice);
            Assert.That(solved.Proven, Is.True);
            Assert.That(cost, Is.LessThanOrEqualTo(capacity), $"trial {trial}");
            Assert.That(cost, Is.EqualTo(solved.Cost));
            Assert.That(value, Is.EqualTo(brute.Value).Within(1e-9), $"trial {trial}: capacity {capacity}");
            // Among optimal choices, the cheapest.
            long cheapest = All(groups).Select(c => Totals(groups, c)).Where(t => t.Cost <= capacity && Math.Abs(t.Value - brute.Value) <= 1e-9).Min(t => t.Cost);
            Assert.That(cost, Is.EqualTo(cheapest), $"trial {trial}: ties go to the lower cost");
        }
        Assert.That(infeasible, Is.GreaterThan(0), "some budgets were infeasible");
    }

    [Test]
    public void MinimizeCostMatchesBruteForce([Values(false, true)] bool ties)
    {
        var r = new Random(ties ? 11 : 5);
        int infeasible = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var groups = Instance(r, 1 + r.Next(6), 4, 9, ties);
            double limit = ties ? r.Next(0, 12) : Math.Round(r.NextDouble() * 30, 2);
            var brute = All(groups).Select(c => Totals(groups, c)).Where(t => t.Value <= limit + 1e-12).Select(t => (long?)t.Cost).Min();
            var solved = MultipleChoiceKnapsack.MinimizeCost(groups, limit);
            if (brute is null)
            {
                Assert.That(solved, Is.Null, $"trial {trial}: infeasible limit {limit}");
                infeasible++;
                continue;
            }
            Assert.That(solved, Is.Not.Null, $"trial {trial}");
            var (cost, value) = Totals(groups, solved!.Choice);
            Assert.That(value, Is.LessThanOrEqualTo(limit + 1e-9), $"trial {trial}");
            Assert.That(cost, Is.EqualTo(brute.Value), $"trial {trial}: limit {limit}");
        }
        Assert.That(infeasible, Is.GreaterThan(0), "some limits were infeasible");
    }

    // An exact DP over integer costs (independent of the frontier search): best[c] = min value at total cost exactly c.
    private static double IntegerDp(List<List<KnapsackItem>> groups, long capacity)
    {
        var best = new double[capacity + 1];
        Array.Fill(best, double.PositiveInfinity);
        best[0] = 0;
        foreach (var items in groups)
        {
            var next = new double[capacity + 1];
            Array.Fill(next, double.PositiveInfinity);
            for (long c = 0; c <= capacity; c++)
            {
                if (double.IsPositiveInfinity(best[c])) continue;
                foreach (var it in items)
                    if (c + it.Cost <= capacity) next[c + it.Cost] = Math.Min(next[c + it.Cost], best[c] + it.Value);
            }
            best = next;
        }
        return best.Min();
    }

    [Test]
    public void LargerInstancesMatchAnIntegerCostDp()
    {
        var r = new Random(21);
        for (int trial = 0; trial < 30; trial++)
        {
            var groups = Instance(r, 40, 6, 50, ties: trial % 2 == 0);
            long capacity = groups.Sum(g => g.Min(i => i.Cost)) + r.Next(0, 600);
            var solved = MultipleChoiceKnapsack.MinimizeValue(groups, capacity)!;
            Assert.That(solved.Value, Is.EqualTo(IntegerDp(groups, capacity)).Within(1e-9), $"trial {trial}");
            Assert.That(solved.Cost, Is.LessThanOrEqualTo(capacity));
        }
    }

    [Test]
    public void BadItemsAreRejectedWithTheGroupNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => MultipleChoiceKnapsack.MinimizeValue([[new KnapsackItem(1, 1)], []], 10));
        Assert.That(ex!.Message, Does.Contain("group 1"));
        ex = Assert.Throws<ArgumentException>(() => MultipleChoiceKnapsack.MinimizeValue([[new KnapsackItem(1, double.NaN)]], 10));
        Assert.That(ex!.Message, Does.Contain("group 0 item 0"));
    }
}
