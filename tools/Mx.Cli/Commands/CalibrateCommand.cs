using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Mx.Calibration;
using Mx.Calibration.Capture;
using Mx.Calibration.Data;
using Mx.Calibration.Ocs;
using Mx.Calibration.Recipes;
using Mx.Calibration.Reports;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx calibrate IN.onnx --calib DIR -o recipe.json (--max-bits B | --min-sqnr S)</c>: chooses an MX format per weight
/// from calibration data under a budget (optionally splitting outlier channels) and writes the recipe that
/// <c>mx quantize --recipe</c> applies. A thin shell over <see cref="Calibrator"/>.
/// </summary>
public static class CalibrateCommand
{
    /// <summary>Options shared with <c>mx quantize --auto</c>.</summary>
    internal sealed class Shared
    {
        public Option<string?> Calib { get; } = new("--calib") { Description = "Calibration data: a folder of <input>.npy (first axis = samples), a folder of test_data_set_* (input_*.pb), or 'random'" };
        public Option<double?> MaxBits { get; } = new("--max-bits") { Description = "Average bits per weight (scales included) to stay under, minimising output error" };
        public Option<string?> MaxSize { get; } = new("--max-size") { Description = "Model size to stay under (e.g. 12MB, 8MiB: the calibrated weights' stored bytes plus everything else), minimising output error" };
        public Option<double?> MinSqnr { get; } = new("--min-sqnr") { Description = "Output SQNR in dB to reach, minimising size" };
        public Option<string> Candidates { get; } = new("--candidates") { Description = "Formats to choose from (comma-separated; fp32 leaves a weight alone)", DefaultValueFactory = _ => string.Join(",", FormatCandidate.Defaults.Select(c => c.Name)) };
        public Option<double> Ocs { get; } = new("--ocs") { Description = "Outlier channel splitting expand ratio (0 = off, e.g. 0.02)", DefaultValueFactory = _ => 0 };
        public Option<bool> NoReorder { get; } = new("--no-reorder") { Description = "Do not try grouping outlier channels into shared blocks" };
        public Option<int?> MaxSamples { get; } = new("--max-samples") { Description = "Use at most this many calibration samples" };
        public Option<string> OcsMode { get; } = new("--ocs-mode") { Description = "How a weight channel split in two is divided: naive (w/2, w/2) or qa (quantization-aware, ±¼ step; kept per weight when it lowers the error)", DefaultValueFactory = _ => "qa" };
        public Option<double?> ActMaxBits { get; } = new("--act-max-bits") { Description = "Also choose an MX format per activation (input of each quantized MatMul/Gemm/Conv) under this average of stored bits per activation element (fp32 = 32)" };
        public Option<string> ActCandidates { get; } = new("--act-candidates") { Description = "Activation formats to choose from (fp32 = leave the activation alone)", DefaultValueFactory = _ => string.Join(",", CalibrationOptions.DefaultActCandidates.Select(c => c.Name)) };
        public Option<double> ActOcs { get; } = new("--act-ocs") { Description = "Activation outlier channel splitting expand ratio (0 = off); only activations with a column ≥ 4 × the median column amax" , DefaultValueFactory = _ => 0 };
        public Option<string> Scales { get; } = new("--scales") { Description = "Scale modes each format is tried with (comma-separated: floor, ceil, mse); each is a candidate of the same bits", DefaultValueFactory = _ => "floor" };
        public Option<string[]> NodesToExclude { get; } = new("--nodes-to-exclude") { Description = "Leave the weights these nodes read in float32 (node names, comma-separated or repeated; ONNX Runtime's nodes_to_exclude)" };
        public Option<bool> Strict { get; } = new("--strict") { Description = "A node name, --exclude pattern or op type that matches nothing is an error (otherwise it is reported)" };
        public Option<int?> Seed { get; } = new("--seed") { Description = "Seed of the row subsets and reservoirs (default 12345): the same seed gives the same recipe" };
        public Option<string> CalibMemory { get; } = new("--calib-memory") { Description = "Memory the capture may use beyond the model (statistics spill to disk past it)", DefaultValueFactory = _ => "2GiB" };
        public Option<int> SensitivityRuns { get; } = new("--sensitivity-runs") { Description = "Most whole-model sensitivity runs (one per weight up to this; beyond, groups of weights share one)", DefaultValueFactory = _ => 32 };
        public Option<int> SensitivitySamples { get; } = new("--sensitivity-samples") { Description = "Samples each sensitivity run uses (the first ones)", DefaultValueFactory = _ => 8 };
        public Option<int> RowsPerSample { get; } = new("--rows-per-sample") { Description = "Input rows per sample and layer that enter H (more are subsampled, seeded)", DefaultValueFactory = _ => 1024 };

        public IEnumerable<Option> All => [Calib, MaxBits, MaxSize, MinSqnr, Candidates, Ocs, NoReorder, MaxSamples, OcsMode, ActMaxBits, ActCandidates, ActOcs, Scales,
            NodesToExclude, Strict, Seed, CalibMemory, SensitivityRuns, SensitivitySamples, RowsPerSample];

        /// <summary>Whether any budget option was given.</summary>
        public bool HasBudget(CliContext ctx) => ctx.Get(MaxBits) != null || ctx.Get(MaxSize) != null || ctx.Get(MinSqnr) != null || ctx.Get(ActMaxBits) != null;

        /// <summary>The options as text, for the recipe's fingerprint (what changes the result).</summary>
        public string Describe(CliContext ctx, long minElements, IReadOnlySet<string>? ops, IReadOnlyList<Regex> exclude) => string.Join("|",
            ctx.Get(Calib), ctx.Get(MaxBits), ctx.Get(MaxSize), ctx.Get(MinSqnr), ctx.Get(Candidates), ctx.Get(Ocs), ctx.Get(NoReorder), ctx.Get(MaxSamples), ctx.Get(OcsMode),
            ctx.Get(ActMaxBits), ctx.Get(ActCandidates), ctx.Get(ActOcs), ctx.Get(Scales), string.Join(",", ctx.Get(NodesToExclude) ?? []), ctx.Get(Seed), ctx.Get(SensitivityRuns),
            ctx.Get(SensitivitySamples), ctx.Get(RowsPerSample), minElements, ops is null ? "" : string.Join(",", ops.Order(StringComparer.Ordinal)), string.Join(",", exclude));

        /// <summary>Runs calibration as the options say; <paramref name="name"/> is the option that needs --calib.</summary>
        public CalibrationRecipe Run(CliContext ctx, OnnxModel model, string modelPath, long minElements, string name, IReadOnlySet<string>? ops = null, IReadOnlyList<Regex>? exclude = null)
        {
            string calib = ctx.Get(Calib) ?? throw new CliException($"{name} needs --calib DIR (or --calib random)", 2);
            double? bits = ctx.Get(MaxBits), sqnr = ctx.Get(MinSqnr);
            long? size = ctx.Get(MaxSize) is { } sizeText ? SizeText.Parse(sizeText, "--max-size") : null;
            if ((bits.HasValue ? 1 : 0) + (sqnr.HasValue ? 1 : 0) + (size.HasValue ? 1 : 0) != 1) throw new CliException($"{name} needs exactly one of --max-bits, --max-size and --min-sqnr", 2);
            double ocs = ctx.Get(Ocs), actOcs = ctx.Get(ActOcs);
            if (!(ocs >= 0 && ocs <= 1)) throw new CliException("--ocs must be between 0 and 1", 2);
            if (!(actOcs >= 0 && actOcs <= 1)) throw new CliException("--act-ocs must be between 0 and 1", 2);
            var ocsMode = ctx.Get(OcsMode).Trim().ToLowerInvariant() switch
            {
                "naive" => OcsSplitMode.Naive,
                "qa" => OcsSplitMode.Qa,
                var m => throw new CliException($"unknown --ocs-mode '{m}'; use naive or qa", 2),
            };
            int? max = ctx.Get(MaxSamples);
            if (max is <= 0) throw new CliException("--max-samples must be positive", 2);
            if (ctx.Get(ActMaxBits) is double abits && !(double.IsFinite(abits) && abits > 0))
                throw new CliException("--act-max-bits must be a positive number of bits per activation element", 2);
            Budget budget;
            Budget? actBudget;
            IReadOnlyList<FormatCandidate> candidates, actCandidates;
            try
            {
                budget = bits is double b ? Budget.Bits(b) : size is long sz ? Budget.Size(sz) : Budget.Sqnr(sqnr!.Value);
                actBudget = ctx.Get(ActMaxBits) is double ab ? Budget.Bits(ab) : null;
                var scales = ctx.Get(Scales).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(QuantizationText.ParseScale).Distinct().ToList();
                if (scales.Count == 0) throw new ArgumentException("--scales is empty; use floor, ceil or mse");
                candidates = FormatCandidate.WithScales(FormatCandidate.Parse(ctx.Get(Candidates)), scales);
                actCandidates = FormatCandidate.Parse(ctx.Get(ActCandidates));
            }
            catch (ArgumentException ex)
            {
                throw new CliException(ex.Message, 2, ex);
            }
            if (ctx.Get(SensitivityRuns) < 1) throw new CliException("--sensitivity-runs must be at least 1", 2);
            if (ctx.Get(SensitivitySamples) < 1) throw new CliException("--sensitivity-samples must be at least 1", 2);
            if (ctx.Get(RowsPerSample) < 1) throw new CliException("--rows-per-sample must be at least 1", 2);
            long memory = SizeText.Parse(ctx.Get(CalibMemory), "--calib-memory");
            if (calib != CalibrationSamples.RandomSpec && !Directory.Exists(calib)) throw new CliException($"--calib folder not found: {calib}", 2);
            var samples = CalibrationSamples.Load(calib, ModelInputs.Of(model), max);
            if (samples.IsRandom) ctx.Error.WriteLine("mx: warning: calibrating on random inputs; the choice rests on random data");
            var options = new CalibrationOptions
            {
                Budget = budget,
                Candidates = candidates,
                OcsRatio = ocs,
                OcsReorder = !ctx.Get(NoReorder),
                OcsMode = ocsMode,
                ActBudget = actBudget,
                ActCandidates = actCandidates,
                ActOcsRatio = actOcs,
                MinElements = minElements,
                Ops = ops,
                Exclude = exclude ?? [],
                NodesToExclude = (ctx.Get(NodesToExclude) ?? []).SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList(),
                Strict = ctx.Get(Strict),
                Seed = ctx.Get(Seed),
                Capture = new CaptureOptions { MemoryBytes = memory, MaxRowsPerSample = ctx.Get(RowsPerSample) },
                MaxSensitivityRuns = ctx.Get(SensitivityRuns),
                SensitivitySamples = ctx.Get(SensitivitySamples),
                Log = ctx.Verbose ? line => ctx.Error.WriteLine(line) : null,
            };
            try
            {
                var recipe = TerminalProgress.Run(ctx, report => Calibrator.Calibrate(model, samples, report is null ? options
                    : options with { Progress = p => report(p.Stage, p.Done, p.Total, null) }, modelPath));
                foreach (string line in recipe.Log.Where(l => l.StartsWith("matched nothing: ", StringComparison.Ordinal)))
                    ctx.Error.WriteLine($"mx: warning: {line}");
                return recipe;
            }
            catch (ArgumentException ex)
            {
                throw new CliException(ex.Message, 1, ex);
            }
        }
    }

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var shared = new Shared();
        var input = new Argument<string>("model") { Description = "The ONNX model to calibrate (never modified)" };
        var output = new Option<string>("--output", "-o") { Description = "The recipe (JSON) to write", Required = true };
        var report = new Option<string?>("--report") { Description = "Write a calibration report (.md or .json)" };
        var minElements = new Option<long>("--min-elements") { Description = "Leave weights with fewer elements", DefaultValueFactory = _ => 1024 };
        var ops = new Option<string?>("--ops", "--op-types-to-quantize") { Description = "Calibrate only the weights of these ops (comma-separated: MatMul,Gemm,Conv,Gather; default all); pass the same --ops to mx quantize" };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave weights whose name matches this regular expression in float32 (repeatable)" };
        var command = new Command("calibrate", "Choose an MX format per weight from calibration data under a bits or SQNR budget; write a recipe for mx quantize --recipe.")
        {
            input, output, report, minElements, ops, exclude,
        };
        foreach (var o in shared.All) command.Options.Add(o);
        CliContext.SetAction(command, ctx =>
        {
            string inPath = ctx.Get(input), outPath = ctx.Get(output);
            if (!File.Exists(inPath)) throw new CliException($"model file not found: {inPath}");
            using var model = OnnxModel.Load(inPath);
            IReadOnlySet<string>? opSet = null;
            if (ctx.Get(ops) is { } list)
            {
                opSet = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
                var unknown = opSet.Where(o => !QuantizationOptions.SupportedOps.Contains(o)).ToList();
                if (unknown.Count > 0 || opSet.Count == 0)
                    throw new CliException($"--ops: unknown op {string.Join(", ", unknown)}; use {string.Join(",", QuantizationOptions.SupportedOps)}", 2);
            }
            var recipe = shared.Run(ctx, model, inPath, ctx.Get(minElements), "mx calibrate", opSet, (ctx.Get(exclude) ?? []).Select(QuantizeCommand.ParseRegex).ToList());
            RecipeJson.Save(recipe, outPath);
            if (ctx.Get(report) is { } reportPath) CalibrationReportWriter.Write(recipe, reportPath);
            ctx.Out.WriteLine(Summary(inPath, outPath, recipe));
            return recipe.BudgetMet ? 0 : 1;
        });
        return command;
    }

    /// <summary>The one summary line.</summary>
    internal static string Summary(string inPath, string outPath, CalibrationRecipe r)
    {
        string F(double x) => x.ToString("0.###", CultureInfo.InvariantCulture);
        var counts = r.Tensors.GroupBy(t => t.FormatName).Select(g => $"{g.Count()} {g.Key}");
        string err = $"output SQNR {F(r.Measured.SqnrDb)} dB" + (r.Measured.MeanKl is double kl ? $", KL {kl.ToString("G3", CultureInfo.InvariantCulture)}" : "")
                     + (r.Measured.Top1Agreement is double t ? $", top-1 {F(t)}" : "");
        int split = r.Tensors.Count(t => t.Ocs != null);
        string act = "";
        if (r.ActAverageBits is double ab && r.ActMeasured is { } am)
        {
            var actCounts = r.Tensors.Where(t => t.Activation is { Chosen: true }).GroupBy(t => t.Activation!.FormatName).Select(g => $"{g.Count()} {g.Key}");
            act = $"; activations ({string.Join(", ", actCounts)}) {F(ab)} bits/element, with them output SQNR {F(am.SqnrDb)} dB" + (am.MeanKl is double akl ? $", KL {akl.ToString("G3", CultureInfo.InvariantCulture)}" : "");
        }
        string cost = r.Cost is { } c ? $"; {F(c.Seconds)} s, peak RSS {F(c.PeakRssBytes / (double)(1L << 30))} GiB" : "";
        return $"{inPath} → {outPath}: {r.Tensors.Count} weights ({string.Join(", ", counts)}), {F(r.AverageBits)} bits/weight, {err}{act}" +
               $"{(split > 0 ? $"; OCS on {split} weights" : "")}; budget {r.Budget} {(r.BudgetMet ? "met" : "NOT met")}{(r.RandomData ? "; calibrated on random data" : "")}{cost}";
    }
}
