using System.Globalization;
using System.Text;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Recipes;

namespace Mx.Calibration.Reports;

/// <summary>
/// Writes a calibration report: per weight the chosen format, its bits, its own SQNR, the output error it causes
/// alone and the channels split; the uniform baselines and the verified result against the budget. <c>.json</c>
/// writes the recipe JSON (which holds all of it); any other extension writes Markdown.
/// </summary>
public static class CalibrationReportWriter
{
    /// <summary>Writes the report for <paramref name="recipe"/> to <paramref name="path"/> (temporary file, then rename).</summary>
    public static void Write(CalibrationRecipe recipe, string path)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(path);
        AtomicText.Write(path, path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? RecipeJson.ToJson(recipe) : Markdown(recipe));
    }

    /// <summary>The report as Markdown.</summary>
    public static string Markdown(CalibrationRecipe r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var sb = new StringBuilder();
        sb.AppendLine($"# Calibration report: {Path.GetFileName(r.Model)}").AppendLine();
        sb.AppendLine($"- data: {r.DataSource} ({r.Samples} samples){(r.RandomData ? " — **random inputs: the choice rests on random data, not real inputs**" : "")}");
        sb.AppendLine($"- budget: {r.Budget}; met: {(r.BudgetMet ? "yes" : "**no**")}");
        sb.AppendLine($"- result: {F(r.AverageBits)} bits/weight; {Err(r.Measured)} (objective: {r.Objective})");
        sb.AppendLine($"- candidates: {string.Join(", ", r.Candidates)}; OCS expand ratio {F(r.OcsRatio)}");
        if (r.Cost is { } cost)
            sb.AppendLine($"- cost: {F(cost.Seconds)} s ({F(cost.CaptureSeconds)} s capture in {cost.CapturePasses} pass(es), {cost.SensitivityRuns} sensitivity runs, {cost.VerificationRuns} verification runs), " +
                          $"peak RSS {F(cost.PeakRssBytes / (double)(1L << 30))} GiB{(cost.SpilledBytes > 0 ? $", {F(cost.SpilledBytes / (double)(1L << 20))} MiB of statistics spilled to disk" : "")}");
        Verification(sb, "Verification: predicted against measured", r.Verification);
        sb.AppendLine().AppendLine("## Uniform baselines (same samples)").AppendLine();
        sb.AppendLine("| format | bits/weight | predicted | measured output error |").AppendLine("|---|---|---|---|");
        foreach (var u in r.Uniform) sb.AppendLine($"| {u.Format} | {F(u.Bits)} | {(u.Predicted is double p ? G(p) : "")} | {(u.Measured is { } e ? Err(e) : "not run")} |");
        sb.AppendLine($"| **selection** | {F(r.AverageBits)} | {(r.Predicted is double sp ? G(sp) : "")} | {Err(r.Measured)} |");
        if (r.ActBudget is { } ab && r.ActMeasured is { } am)
        {
            sb.AppendLine().AppendLine($"## Activations ({ab}; weights as chosen)").AppendLine();
            sb.AppendLine("| activation format | bits/element | predicted | measured output error |").AppendLine("|---|---|---|---|");
            foreach (var u in r.ActUniform) sb.AppendLine($"| {u.Format} | {F(u.Bits)} | {(u.Predicted is double p ? G(p) : "")} | {(u.Measured is { } e ? Err(e) : "not run")} |");
            sb.AppendLine($"| **selection** | {F(r.ActAverageBits ?? 0)} | | {Err(am)} |");
            Verification(sb, "Activation verification", r.ActVerification);
        }
        sb.AppendLine().AppendLine("## Weights").AppendLine();
        sb.AppendLine("| weight | op | format | bits | tensor SQNR dB | layer NSR | sensitivity | predicted output error alone | OCS split channels | outlier blocks before → after | activation | act. amax / p99.9 / outlier channels |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var t in r.Tensors)
        {
            string ocs = t.Ocs is null ? "" : $"{string.Join(" ", t.Ocs.SplitChannels)} (+{t.Ocs.Count - t.Ocs.Sources.Distinct().Count()}, {(t.OcsSide == Ocs.OcsSide.Activation ? "activation side, " : "")}{(t.OcsMode == Ocs.OcsSplitMode.Qa ? "qa, " : "")}{t.OcsVia})";
            string blocks = t.OutlierBlocksBefore is { } b && t.OutlierBlocksAfter is { } a ? $"{b.OutlierBlocks}/{b.Blocks} → {a.OutlierBlocks}/{a.Blocks}" : "";
            string act = t.Activation is { Chosen: true } ac ? $"{ac.FormatName} ({F(ac.Bits ?? 32)} bits)" : "";
            string actStats = t.Activation is { } st ? $"{F(st.Amax ?? 0)} / {F(st.P999 ?? 0)} / {st.OutlierChannels.Count}" : "";
            sb.AppendLine($"| {t.Name} | {t.Op} | {t.FormatName} | {F(t.Bits)} | {(t.TensorSqnrDb is double s ? F(s) : "")} | {(t.LocalNsr is double l ? G(l) : "")} | {(t.Sensitivity is double sv ? G(sv) : "")} | {(t.OutputError is { } e ? Err(e) : "")} | {ocs} | {blocks} | {act} | {actStats} |");
        }
        if (r.Excluded.Count > 0)
        {
            sb.AppendLine().AppendLine("## Excluded (float32)").AppendLine();
            foreach (var x in r.Excluded) sb.AppendLine($"- {x.Name} ({x.Op}): {x.Reason}");
        }
        if (r.Skipped.Count > 0)
        {
            sb.AppendLine().AppendLine("## Not calibrated").AppendLine();
            foreach (var (name, op, reason) in r.Skipped) sb.AppendLine($"- {name} ({op}): {reason}");
        }
        if (r.Log.Count > 0)
        {
            sb.AppendLine().AppendLine("## Search").AppendLine();
            foreach (string l in r.Log) sb.AppendLine($"- {l}");
        }
        return sb.ToString();
    }

    private static void Verification(StringBuilder sb, string title, IReadOnlyList<Selection.VerifiedPlan> plans)
    {
        if (plans.Count == 0) return;
        sb.AppendLine().AppendLine($"## {title}").AppendLine();
        sb.AppendLine("| plan | bits | predicted | measured | ratio | taken | note |").AppendLine("|---|---|---|---|---|---|---|");
        foreach (var v in plans)
        {
            double measured = v.Label.StartsWith("round", StringComparison.Ordinal) ? v.Measured.Nsr : v.Measured.Objective;
            string ratio = v.Predicted > 0 ? F(measured / v.Predicted) + "×" : "";
            sb.AppendLine($"| {v.Label} | {F(v.AverageBits)} | {G(v.Predicted)} | {Err(v.Measured)} | {ratio} | {(v.Taken ? "**yes**" : "")} | {v.Note} |");
        }
    }

    private static string G(double x) => x.ToString("G4", CultureInfo.InvariantCulture);

    private static string Err(OutputError e)
    {
        string s = $"SQNR {F(e.SqnrDb)} dB";
        if (e.MeanKl is double kl) s += $", KL {kl.ToString("G3", CultureInfo.InvariantCulture)}";
        if (e.Top1Agreement is double t) s += $", top-1 {F(t)}";
        return s;
    }

    private static string F(double x) => double.IsPositiveInfinity(x) ? "∞" : x.ToString("0.###", CultureInfo.InvariantCulture);
}
