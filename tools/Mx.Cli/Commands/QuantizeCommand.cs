using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Mx.Calibration.Recipes;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Onnx.Reports;
using Mx.Runtime.Formats;

namespace Mx.Cli.Commands;

/// <summary>
/// <c>mx quantize IN.onnx -o OUT.onnx</c>: rewrites a model's MatMul/Gemm/Conv/Gather weights to an MX format as
/// packed mx.onnx ops, standard DequantizeLinear, or fake-quantized float32. A thin shell over <see cref="ModelQuantizer"/>.
/// </summary>
public static class QuantizeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var input = new Argument<string>("model") { Description = "The ONNX model to quantize (never modified)" };
        var output = new Option<string>("--output", "-o") { Description = "The quantized model to write", Required = true };
        var format = new Option<string>("--format", "-f") { Description = $"MX format: {string.Join(", ", MxFormats.All.Select(f => f.Name))}", DefaultValueFactory = _ => "mxfp4_e2m1" };
        var blockSize = new Option<int?>("--block-size") { Description = "Elements per shared scale (default: the format's, 32 or 16)" };
        var scale = new Option<string>("--scale") { Description = "Scale choice per block", DefaultValueFactory = _ => "floor" };
        scale.AcceptOnlyFromAmong("floor", "ceil", "mse");
        var rounding = new Option<string>("--rounding") { Description = "Element rounding", DefaultValueFactory = _ => "even" };
        rounding.AcceptOnlyFromAmong("even", "away");
        var actFormat = new Option<string>("--act-format") { Description = "Quantize the activations of quantized ops too (none or an MX format)", DefaultValueFactory = _ => "none" };
        var emit = new Option<string>("--emit") { Description = "packed (mx.onnx ops), qdq (standard DequantizeLinear), fake (dequantized float32) or matmulnbits (ONNX Runtime's 4-bit MatMulNBits, not MX)", DefaultValueFactory = _ => "packed" };
        emit.AcceptOnlyFromAmong("packed", "qdq", "fake", "matmulnbits");
        var accuracyLevel = new Option<int>("--accuracy-level") { Description = "--emit matmulnbits: accuracy_level 0 (float32 activations), 1, 2, 3 or 4 (int8 activations)", DefaultValueFactory = _ => 4 };
        var zeroPoints = new Option<bool>("--zero-points") { Description = "--emit matmulnbits: a 4-bit zero point per block (min/max) instead of symmetric blocks" };
        var ops = new Option<string>("--ops", "--op-types-to-quantize") { Description = "Operators whose weights are quantized", DefaultValueFactory = _ => string.Join(",", QuantizationOptions.SupportedOps) };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave weights whose name matches this regular expression (repeatable)", AllowMultipleArgumentsPerToken = false };
        var minElements = new Option<long>("--min-elements") { Description = "Leave weights with fewer elements", DefaultValueFactory = _ => 1024 };
        var report = new Option<string?>("--report") { Description = "Write a quantization report to this path (.md, .json or .html)" };
        var data = new Option<string?>("--data") { Description = "Folder of .npy inputs the report runs both models on" };
        var force = new Option<bool>("--force") { Description = "Quantize a model that already holds quantization ops" };
        var storage = new Option<string>("--layout") { Description = "Packed MatMul/Gemm weight storage: rowmajor, or kmajor (zero activation blocks skipped as whole streams; MXFP4/MXINT4/MXINT8, blocks of 32)", DefaultValueFactory = _ => "rowmajor" };
        storage.AcceptOnlyFromAmong("rowmajor", "kmajor");
        var prune = new Option<double>("--prune-blocks") { Description = "With --layout kmajor: zero this fraction of each weight's least important 32×16 (K-block × rows) tiles; they are not stored and are skipped", DefaultValueFactory = _ => 0 };
        var sparseThreshold = new Option<float>("--sparse-threshold") { Description = "With --layout kmajor: activation blocks whose largest |a| is at most this are treated as zero (0: exact zeros only)", DefaultValueFactory = _ => 0 };
        var reorder = new Option<bool>("--reorder-channels") { Description = "With --calib: reorder the hidden channels of each MLP (the function is unchanged) so rarely active ones share 32-blocks, which --layout kmajor then skips" };
        var threshold = new Option<long?>("--external-data-threshold") { Description = "Tensors above this many bytes go to OUT.onnx.data (default: where they were; 1 KiB if the model would pass 2 GiB)" };
        // Per-tensor formats: from a recipe file (mx calibrate), or chosen here from calibration data (--auto).
        var recipeFile = new Option<string?>("--recipe") { Description = "Apply a calibration recipe (from mx calibrate): per-weight formats and channel splits. With --auto: reuse it when it was made for this model and these options, else calibrate and write it there" };
        var auto = new Option<bool>("--auto") { Description = "Calibrate first (--calib with --max-bits or --min-sqnr) and apply the resulting recipe" };
        var calibration = new CalibrateCommand.Shared();
        var command = new Command("quantize", "Rewrite an ONNX model's weights to an MX format (packed, standard QDQ or fake-quant).")
        {
            input, output, format, blockSize, scale, rounding, actFormat, emit, accuracyLevel, zeroPoints, ops, exclude, minElements, report, data, force, storage, prune, sparseThreshold, reorder, threshold, recipeFile, auto,
        };
        foreach (var o in calibration.All) command.Options.Add(o);
        CliContext.SetAction(command, ctx =>
        {
            string inPath = ctx.Get(input), outPath = ctx.Get(output);
            var options = new QuantizationOptions
            {
                Format = ParseFormat(ctx.Get(format), "--format"),
                BlockSize = ctx.Get(blockSize),
                ScaleMode = QuantizationText.ParseScale(ctx.Get(scale)),
                Rounding = QuantizationText.ParseRounding(ctx.Get(rounding)),
                ActFormat = ctx.Get(actFormat).Equals("none", StringComparison.OrdinalIgnoreCase) ? null : ParseFormat(ctx.Get(actFormat), "--act-format"),
                Emit = QuantizationText.ParseEmit(ctx.Get(emit)),
                MatMulNBits = new MatMulNBitsOptions { AccuracyLevel = ctx.Get(accuracyLevel), ZeroPoints = ctx.Get(zeroPoints) },
                Ops = ParseOps(ctx.Get(ops)),
                Exclude = (ctx.Get(exclude) ?? []).Select(ParseRegex).ToList(),
                MinElements = ctx.Get(minElements) is >= 0 and var m ? m : throw new CliException("--min-elements must be 0 or more", 2),
                Force = ctx.Get(force),
                Storage = ctx.Get(storage) == "kmajor" ? WeightStorage.KMajor : WeightStorage.RowMajor,
                PruneBlocks = ctx.Get(prune) is >= 0 and < 1 and var pb ? pb : throw new CliException($"--prune-blocks {ctx.Get(prune)} must be in [0, 1)", 2),
                SparseThreshold = ctx.Get(sparseThreshold) is >= 0 and var st && float.IsFinite(st) ? st : throw new CliException($"--sparse-threshold {ctx.Get(sparseThreshold)} must be a finite number ≥ 0", 2),
            };
            if (options.PruneBlocks > 0 && options.Storage != WeightStorage.KMajor) throw new CliException("--prune-blocks needs --layout kmajor", 2);
            if (options.SparseThreshold > 0 && options.Storage != WeightStorage.KMajor) throw new CliException("--sparse-threshold needs --layout kmajor", 2);
            if (options.Storage == WeightStorage.KMajor && options.Emit != EmitForm.Packed) throw new CliException("--layout kmajor needs --emit packed", 2);
            CheckMatMulNBitsOptions(ctx, options.Emit, [format, scale, rounding], [accuracyLevel, zeroPoints]);
            string? reportPath = ctx.Get(report), dataDir = ctx.Get(data);
            if (dataDir != null && reportPath == null) throw new CliException("--data needs --report", 2);
            if (dataDir != null && !Directory.Exists(dataDir)) throw new CliException($"--data folder not found: {dataDir}", 2);
            // Checked before any work so a bad report path never leaves a quantized model without its report.
            if (reportPath != null && !QuantizationReportWriter.Extensions.Contains(Path.GetExtension(reportPath).ToLowerInvariant()))
                throw new CliException($"--report {reportPath}: the extension must be one of {string.Join(", ", QuantizationReportWriter.Extensions)}", 2);
            if (!File.Exists(inPath)) throw new CliException($"model file not found: {inPath}");
            if (Path.GetFullPath(inPath) == Path.GetFullPath(outPath)) throw new CliException($"{outPath}: the output would overwrite the input model; choose another path", 2);

            // The folders of the outputs are created, as a user writing `-o out/model.onnx` expects.
            foreach (string? path in new[] { outPath, reportPath })
                if (path != null && Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);

            var plan = new QuantizationPlan(options);
            using var model = OnnxModel.Load(inPath);
            if (!ctx.Get(auto) && calibration.HasBudget(ctx))
                throw new CliException("--max-bits, --max-size, --min-sqnr and --act-max-bits need --auto", 2);
            var recipe = ctx.Get(auto) ? AutoRecipe(ctx, calibration, model, inPath, options, ctx.Get(recipeFile))
                : ctx.Get(recipeFile) is { } recipePath ? RecipeJson.Load(recipePath) : null;
            if (ctx.Get(reorder)) ReorderChannels(ctx, calibration, model, options.SparseThreshold);
            if (options.PruneBlocks > 0 && ctx.Get(calibration.Calib) is { } pruneCalib)
            {
                // Pruning weighs each tile's Σ w² by its inputs' second moments, measured on the calibration data.
                var samples = Mx.Calibration.Data.CalibrationSamples.Load(pruneCalib, Mx.Calibration.Data.ModelInputs.Of(model), ctx.Get(calibration.MaxSamples));
                plan = plan.WithInputSecondMoments(Mx.Calibration.Sparsity.InputSecondMoments.Measure(model, samples));
            }
            if (recipe != null) plan = RecipeApplier.Apply(model, recipe, plan);
            long before = new FileInfo(inPath).Length + ExternalBytes(model);
            var result = WithProgress(ctx, p => ModelQuantizer.Quantize(model, plan, p));
            // A model that came with external data keeps its large tensors (the packed ones included) outside.
            long? outside = ctx.Get(threshold) ?? (ExternalBytes(model) > 0 ? 1024 : null);
            model.Save(outPath, new OnnxSaveOptions { ExternalDataThreshold = outside });
            long after = new FileInfo(outPath).Length + (File.Exists(outPath + ".data") ? new FileInfo(outPath + ".data").Length : 0);
            if (reportPath != null) WriteReport(inPath, outPath, reportPath, dataDir);
            ctx.Out.WriteLine(Summary(inPath, outPath, before, after, result));
            return 0;
        });
        return command;
    }

    // --reorder-channels: PIT-style equivalent reordering of every permutable MLP, measured on the calibration data.
    private static void ReorderChannels(CliContext ctx, CalibrateCommand.Shared calibration, OnnxModel model, float threshold)
    {
        string calib = ctx.Get(calibration.Calib) ?? throw new CliException("--reorder-channels needs --calib DIR (the hidden activations decide the order)", 2);
        var samples = Mx.Calibration.Data.CalibrationSamples.Load(calib, Mx.Calibration.Data.ModelInputs.Of(model), ctx.Get(calibration.MaxSamples));
        var groups = Mx.Calibration.Sparsity.MlpChannelGroup.Find(model);
        var plans = Mx.Calibration.Sparsity.HiddenActivations.ReorderAll(model, samples, threshold);
        foreach (var p in plans)
            ctx.Error.WriteLine($"mx: reordered the {p.Group.Size} hidden channels of '{p.Group.Hidden}' ({p.Group.Down}): 32-block density {p.DensityBefore:P1} → {p.DensityAfter:P1} on the calibration data");
        if (plans.Count < groups.Count)
            ctx.Error.WriteLine($"mx: {groups.Count - plans.Count} of {groups.Count} permutable MLPs kept their order (reordering would not lower their block density)");
        if (groups.Count == 0) ctx.Error.WriteLine("mx: --reorder-channels found no MLP whose hidden channels can be permuted");
    }

    // --auto: calibrate, or with --recipe PATH reuse the recipe there when its fingerprint (model bytes, data file
    // sizes, calibration options) matches; a new recipe is written there.
    private static CalibrationRecipe AutoRecipe(CliContext ctx, CalibrateCommand.Shared calibration, OnnxModel model, string inPath, QuantizationOptions options, string? recipePath)
    {
        var dataFiles = Mx.Onnx.Tensors.ModelWalker.AllTensors(model.Proto).Where(Mx.Onnx.ExternalData.ExternalDataReference.IsExternal)
            .Select(t => Path.Combine(model.ExternalData.Folder ?? "", Mx.Onnx.ExternalData.ExternalDataReference.Parse(t, inPath).Location)).Distinct(StringComparer.Ordinal);
        string fingerprint = RecipeFingerprint.Of(inPath, dataFiles, calibration.Describe(ctx, options.MinElements, options.Ops, options.Exclude));
        if (recipePath != null && File.Exists(recipePath))
        {
            var previous = RecipeJson.Load(recipePath);
            if (previous.Fingerprint == fingerprint)
            {
                ctx.Error.WriteLine($"mx: reusing {recipePath} (made for this model and these options); not calibrating again");
                return previous;
            }
            ctx.Error.WriteLine($"mx: {recipePath} was made for another model or other options; calibrating again and replacing it");
        }
        var recipe = calibration.Run(ctx, model, inPath, options.MinElements, "--auto", options.Ops, options.Exclude) with { Fingerprint = fingerprint };
        if (recipePath != null) RecipeJson.Save(recipe, recipePath);
        return recipe;
    }

    // MX settings mean nothing to MatMulNBits' integer blocks, and its settings nothing to the MX forms: a clear error either way.
    private static void CheckMatMulNBitsOptions(CliContext ctx, EmitForm emit, Option[] mxOnly, Option[] nbitsOnly)
    {
        bool Given(Option o) => ctx.Parse.GetResult(o) is { Implicit: false };
        if (emit == EmitForm.MatMulNBits && mxOnly.FirstOrDefault(Given) is { } mx)
            throw new CliException($"{mx.Name} sets an MX format's encoding; --emit matmulnbits writes 4-bit integer blocks (choose --block-size, --accuracy-level, --zero-points)", 2);
        if (emit != EmitForm.MatMulNBits && nbitsOnly.FirstOrDefault(Given) is { } nb)
            throw new CliException($"{nb.Name} applies to --emit matmulnbits only", 2);
    }

    /// <summary>The one summary line: sizes, ratio, tensors quantized and skipped, and model-wide notes.</summary>
    internal static string Summary(string inPath, string outPath, long before, long after, QuantizationResult r)
    {
        string ratio = after > 0 ? (before / (double)after).ToString("F2", CultureInfo.InvariantCulture) : "∞";
        string format = r.Options.Emit == EmitForm.MatMulNBits ? $"int4 MatMulNBits accuracy_level {r.Options.MatMulNBits.AccuracyLevel}" : r.Options.Format.Name;
        string line = $"{inPath} → {outPath}: {Mib(before)} → {Mib(after)} ({ratio}x smaller); {r.QuantizedWeights} weights quantized to " +
                      $"{format} ({QuantizationText.Emit(r.Options.Emit)}), {Mib(r.BytesBefore)} → {Mib(r.BytesAfter)}; {r.Skipped.Count} skipped";
        return r.Notes.Count == 0 ? line : line + "; note: " + string.Join("; ", r.Notes);
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    // Reports are produced by Mx.Onnx.Reports, which lives on another branch: the lead connects it at merge.
    /// <summary>The report reads both files back, so it describes what the output really holds.</summary>
    private static void WriteReport(string original, string output, string reportPath, string? dataDir) =>
        QuantizationReportWriter.Write(QuantizationReport.Create(original, output, dataDir), reportPath);

    private static QuantizationResult WithProgress(CliContext ctx, Func<IProgress<QuantizationProgress>?, QuantizationResult> run) =>
        TerminalProgress.Run(ctx, report => run(report is null ? null : new SyncProgress(q => report("quantizing", q.BytesDone, q.BytesTotal, $"{q.Done}/{q.Total} {q.Tensor}"))));

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and lag behind).</summary>
    private sealed class SyncProgress(Action<QuantizationProgress> report) : IProgress<QuantizationProgress>
    {
        public void Report(QuantizationProgress value) => report(value);
    }

    // The loader maps every external data file while validating, so the mapped bytes are the data files' sizes.
    private static long ExternalBytes(OnnxModel model) => model.ExternalData.MappedBytes;

    private static MxFormat ParseFormat(string name, string option) =>
        MxFormats.TryParse(name, out var f) ? f : throw new CliException($"{option}: unknown format '{name}'; known: {string.Join(", ", MxFormats.All.Select(x => x.Name))}", 2);

    private static IReadOnlySet<string> ParseOps(string text)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string? op = QuantizationOptions.SupportedOps.FirstOrDefault(o => o.Equals(part, StringComparison.OrdinalIgnoreCase));
            set.Add(op ?? throw new CliException($"--ops: unknown op '{part}'; supported: {string.Join(", ", QuantizationOptions.SupportedOps)}", 2));
        }
        return set;
    }

    internal static Regex ParseRegex(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException ex)
        {
            throw new CliException($"--exclude: bad regular expression '{pattern}': {ex.Message}", 2);
        }
    }
}
