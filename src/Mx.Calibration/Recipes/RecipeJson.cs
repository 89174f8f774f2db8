using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Mx.Calibration.Evaluation;
using Mx.Calibration.Ocs;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Recipes;

/// <summary>Reads and writes <see cref="CalibrationRecipe"/> as JSON (schema in docs/calibration.md).</summary>
public static class RecipeJson
{
    /// <summary>The recipe as indented JSON.</summary>
    public static string ToJson(CalibrationRecipe r)
    {
        ArgumentNullException.ThrowIfNull(r);
        var root = new JsonObject
        {
            ["version"] = r.Version,
            ["model"] = r.Model,
            ["data"] = new JsonObject { ["source"] = r.DataSource, ["samples"] = r.Samples, ["random"] = r.RandomData },
            ["budget"] = new JsonObject { ["text"] = r.Budget, ["max_bits"] = r.MaxBits, ["min_sqnr_db"] = r.MinSqnrDb, ["met"] = r.BudgetMet },
            ["candidates"] = new JsonArray(r.Candidates.Select(c => (JsonNode?)c).ToArray()),
            ["objective"] = r.Objective,
            ["ocs_ratio"] = r.OcsRatio,
            ["average_bits"] = r.AverageBits,
            ["measured"] = Error(r.Measured),
            ["predicted"] = r.Predicted is double p ? Finite(p) : null,
            ["uniform"] = Uniform(r.Uniform),
            ["verification"] = Verification(r.Verification),
            ["excluded"] = new JsonArray(r.Excluded.Select(x => (JsonNode?)new JsonObject { ["name"] = x.Name, ["op"] = x.Op, ["reason"] = x.Reason }).ToArray()),
            ["fingerprint"] = r.Fingerprint,
            ["seed"] = r.Seed,
            ["cost"] = r.Cost is { } c ? new JsonObject
            {
                ["seconds"] = c.Seconds, ["capture_seconds"] = c.CaptureSeconds, ["capture_passes"] = c.CapturePasses, ["spilled_bytes"] = c.SpilledBytes,
                ["sensitivity_runs"] = c.SensitivityRuns, ["verification_runs"] = c.VerificationRuns, ["peak_rss_bytes"] = c.PeakRssBytes,
            } : null,
            ["ocs_mode"] = r.OcsMode,
            ["act_ocs_ratio"] = r.ActOcsRatio,
            ["activations"] = r.ActBudget is null ? null : new JsonObject
            {
                ["budget"] = r.ActBudget,
                ["max_bits"] = r.ActMaxBits,
                ["candidates"] = new JsonArray(r.ActCandidates.Select(c => (JsonNode?)c).ToArray()),
                ["average_bits"] = r.ActAverageBits,
                ["measured"] = r.ActMeasured is { } am ? Error(am) : null,
                ["uniform"] = Uniform(r.ActUniform),
                ["verification"] = Verification(r.ActVerification),
            },
            ["tensors"] = new JsonArray(r.Tensors.Select(t => (JsonNode?)Tensor(t)).ToArray()),
            ["skipped"] = new JsonArray(r.Skipped.Select(x => (JsonNode?)new JsonObject { ["name"] = x.Name, ["op"] = x.Op, ["reason"] = x.Reason }).ToArray()),
            ["log"] = new JsonArray(r.Log.Select(l => (JsonNode?)l).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Writes the recipe to <paramref name="path"/> (temporary file, then rename).</summary>
    public static void Save(CalibrationRecipe recipe, string path) => AtomicText.Write(path, ToJson(recipe));

    /// <summary>Reads a recipe file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">Not a recipe: the message names the file and the field.</exception>
    public static CalibrationRecipe Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"recipe file not found: {path}", path);
        try
        {
            return Parse(File.ReadAllText(path, Encoding.UTF8));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException or FormatException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{path}: not a calibration recipe: {ex.Message}", ex);
        }
    }

    /// <summary>Parses recipe JSON.</summary>
    public static CalibrationRecipe Parse(string json)
    {
        var root = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidOperationException("the JSON is null");
        int version = Req(root, "version").GetValue<int>();
        if (version != CalibrationRecipe.CurrentVersion) throw new InvalidOperationException($"recipe version {version}; this build reads version {CalibrationRecipe.CurrentVersion}");
        var data = Req(root, "data").AsObject();
        var budget = Req(root, "budget").AsObject();
        var tensors = Req(root, "tensors").AsArray().Select((t, i) => ParseTensor(t?.AsObject() ?? throw new InvalidOperationException($"tensors[{i}] is null"), i)).ToList();
        return new CalibrationRecipe
        {
            Version = version,
            Model = root["model"]?.GetValue<string>() ?? "",
            DataSource = data["source"]?.GetValue<string>() ?? "",
            Samples = data["samples"]?.GetValue<int>() ?? 0,
            RandomData = data["random"]?.GetValue<bool>() ?? false,
            Budget = budget["text"]?.GetValue<string>() ?? "",
            MaxBits = budget["max_bits"]?.GetValue<double>(),
            MinSqnrDb = budget["min_sqnr_db"]?.GetValue<double>(),
            BudgetMet = budget["met"]?.GetValue<bool>() ?? false,
            Candidates = root["candidates"]?.AsArray().Select(c => c!.GetValue<string>()).ToList() ?? [],
            Objective = root["objective"]?.GetValue<string>() ?? "",
            OcsRatio = root["ocs_ratio"]?.GetValue<double>() ?? 0,
            AverageBits = root["average_bits"]?.GetValue<double>() ?? 0,
            Measured = root["measured"] is JsonObject m ? ParseError(m) : OutputError.Zero,
            Tensors = tensors,
            OcsMode = root["ocs_mode"]?.GetValue<string>() ?? "naive",
            ActOcsRatio = root["act_ocs_ratio"]?.GetValue<double>() ?? 0,
            ActBudget = root["activations"]?["budget"]?.GetValue<string>(),
            ActMaxBits = root["activations"]?["max_bits"]?.GetValue<double>(),
            ActAverageBits = root["activations"]?["average_bits"]?.GetValue<double>(),
            ActMeasured = root["activations"]?["measured"] is JsonObject am ? ParseError(am) : null,
            ActCandidates = root["activations"]?["candidates"]?.AsArray().Select(c => c!.GetValue<string>()).ToList() ?? [],
            Uniform = ParseUniform(root["uniform"]),
            ActUniform = ParseUniform(root["activations"]?["uniform"]),
            Verification = ParseVerification(root["verification"]),
            ActVerification = ParseVerification(root["activations"]?["verification"]),
            Predicted = root["predicted"]?.GetValue<double>(),
            Excluded = root["excluded"]?.AsArray().Select(x => new ExcludedWeight(x!["name"]!.GetValue<string>(), x["op"]?.GetValue<string>() ?? "", x["reason"]?.GetValue<string>() ?? "")).ToList() ?? [],
            Fingerprint = root["fingerprint"]?.GetValue<string>(),
            Seed = root["seed"]?.GetValue<int>(),
            Skipped = root["skipped"]?.AsArray().Select(x => (x!["name"]!.GetValue<string>(), x["op"]?.GetValue<string>() ?? "", x["reason"]?.GetValue<string>() ?? "")).ToList() ?? [],
        };
    }

    private static JsonArray Uniform(IEnumerable<RecipeUniform> list) => new(list.Select(u => (JsonNode?)new JsonObject
    {
        ["format"] = u.Format, ["bits"] = u.Bits, ["predicted"] = u.Predicted is double p ? Finite(p) : null, ["error"] = u.Measured is { } e ? Error(e) : null,
    }).ToArray());

    private static List<RecipeUniform> ParseUniform(JsonNode? node) => node?.AsArray().Select(x => new RecipeUniform(x!["format"]!.GetValue<string>(), x["bits"]?.GetValue<double>() ?? 0,
        x["predicted"]?.GetValue<double>(), x["error"] is JsonObject e ? ParseError(e) : null)).ToList() ?? [];

    private static JsonArray Verification(IEnumerable<Selection.VerifiedPlan> list) => new(list.Select(v => (JsonNode?)new JsonObject
    {
        ["plan"] = v.Label, ["bits"] = v.AverageBits, ["predicted"] = Finite(v.Predicted), ["measured"] = Error(v.Measured), ["taken"] = v.Taken, ["note"] = v.Note,
    }).ToArray());

    private static List<Selection.VerifiedPlan> ParseVerification(JsonNode? node) => node?.AsArray().Select(x => new Selection.VerifiedPlan(x!["plan"]!.GetValue<string>(),
        x["bits"]?.GetValue<double>() ?? 0, x["predicted"]?.GetValue<double>() ?? double.NaN, x["measured"] is JsonObject m ? ParseError(m) : OutputError.Zero,
        x["taken"]?.GetValue<bool>() ?? false, x["note"]?.GetValue<string>() ?? "")).ToList() ?? [];

    private static JsonNode Req(JsonObject o, string name) => o[name] ?? throw new InvalidOperationException($"missing field '{name}'");

    private static JsonObject Error(OutputError e) => new()
    {
        ["nsr"] = Finite(e.Nsr), ["sqnr_db"] = Finite(e.SqnrDb), ["mean_kl"] = e.MeanKl is double k ? Finite(k) : null, ["top1_agreement"] = e.Top1Agreement,
    };

    // JSON has no infinities: an exact result is written as null.
    private static JsonNode? Finite(double x) => double.IsFinite(x) ? JsonValue.Create(x) : null;

    private static OutputError ParseError(JsonObject o) =>
        new(o["nsr"]?.GetValue<double>() ?? 0, o["mean_kl"]?.GetValue<double>(), o["top1_agreement"]?.GetValue<double>());

    private static JsonObject Tensor(RecipeTensor t)
    {
        var o = new JsonObject
        {
            ["name"] = t.Name,
            ["op"] = t.Op,
            ["format"] = t.FormatName,
            ["block_size"] = t.Settings?.BlockSize,
            ["scale"] = t.Settings?.ScaleText,
            ["rounding"] = t.Settings?.RoundingText,
            ["bits"] = t.Bits,
            ["tensor_sqnr_db"] = t.TensorSqnrDb is double s ? Finite(s) : null,
            ["output_error"] = t.OutputError is { } e ? Error(e) : null,
            ["local_nsr"] = t.LocalNsr is double l ? Finite(l) : null,
            ["sensitivity"] = t.Sensitivity is double sv ? Finite(sv) : null,
            ["method"] = t.Method,
        };
        if (t.Ocs != null)
        {
            o["ocs"] = new JsonObject
            {
                ["channels"] = t.Ocs.Count,
                ["split"] = new JsonArray(t.Ocs.SplitChannels.Select(c => (JsonNode?)c).ToArray()),
                ["sources"] = new JsonArray(t.Ocs.Sources.Select(c => (JsonNode?)c).ToArray()),
                ["factors"] = new JsonArray(t.Ocs.Factors.Select(c => (JsonNode?)c).ToArray()),
                ["via"] = t.OcsVia,
                ["outlier_blocks_before"] = t.OutlierBlocksBefore?.OutlierBlocks,
                ["outlier_blocks_after"] = t.OutlierBlocksAfter?.OutlierBlocks,
                ["blocks_before"] = t.OutlierBlocksBefore?.Blocks,
                ["blocks_after"] = t.OutlierBlocksAfter?.Blocks,
                ["side"] = t.OcsSide == OcsSide.Activation ? "activation" : "weight",
                ["mode"] = t.OcsMode == OcsSplitMode.Qa ? "qa" : "naive",
                ["reference_format"] = t.OcsReference?.Format.Name,
                ["reference_block_size"] = t.OcsReference?.BlockSize,
            };
        }
        if (t.Activation is { } a)
        {
            o["activation"] = new JsonObject
            {
                ["value"] = a.Value,
                ["format"] = a.Chosen ? a.FormatName : null,
                ["block_size"] = a.Chosen ? a.Settings?.BlockSize : null,
                ["bits"] = a.Bits,
                ["sqnr_db"] = a.SqnrDb is double sq ? Finite(sq) : null,
                ["output_error"] = a.OutputError is { } ae ? Error(ae) : null,
                ["amax"] = a.Amax,
                ["p99_9"] = a.P999,
                ["outlier_channels"] = new JsonArray(a.OutlierChannels.Select(c => (JsonNode?)c).ToArray()),
            };
        }
        return o;
    }

    private static RecipeTensor ParseTensor(JsonObject o, int i)
    {
        string name = o["name"]?.GetValue<string>() ?? throw new InvalidOperationException($"tensors[{i}]: missing 'name'");
        string format = o["format"]?.GetValue<string>() ?? throw new InvalidOperationException($"tensor '{name}': missing 'format'");
        TensorSettings? settings = null;
        if (!format.Equals("fp32", StringComparison.OrdinalIgnoreCase))
        {
            if (!MxFormats.TryParse(format, out var f)) throw new InvalidOperationException($"tensor '{name}': unknown format '{format}'");
            settings = new TensorSettings(f, o["block_size"]?.GetValue<int>() ?? f.DefaultBlockSize,
                QuantizationText.ParseScale(o["scale"]?.GetValue<string>() ?? "floor"), QuantizationText.ParseRounding(o["rounding"]?.GetValue<string>() ?? "even"));
        }
        ChannelMap? ocs = null;
        string? via = null;
        var side = OcsSide.Weight;
        var mode = OcsSplitMode.Naive;
        TensorSettings? reference = null;
        if (o["ocs"] is JsonObject c)
        {
            ocs = new ChannelMap(Req(c, "sources").AsArray().Select(x => x!.GetValue<int>()).ToArray(), Req(c, "factors").AsArray().Select(x => x!.GetValue<float>()).ToArray());
            via = c["via"]?.GetValue<string>();
            side = (c["side"]?.GetValue<string>() ?? "weight") switch
            {
                "weight" => OcsSide.Weight,
                "activation" => OcsSide.Activation,
                var x => throw new InvalidOperationException($"tensor '{name}': unknown ocs side '{x}'"),
            };
            mode = (c["mode"]?.GetValue<string>() ?? "naive") switch
            {
                "naive" => OcsSplitMode.Naive,
                "qa" => OcsSplitMode.Qa,
                var x => throw new InvalidOperationException($"tensor '{name}': unknown ocs mode '{x}'"),
            };
            if (c["reference_format"]?.GetValue<string>() is { } rf)
            {
                if (!MxFormats.TryParse(rf, out var f)) throw new InvalidOperationException($"tensor '{name}': unknown ocs reference format '{rf}'");
                reference = new TensorSettings(f, c["reference_block_size"]?.GetValue<int>() ?? f.DefaultBlockSize, MxScaleMode.Floor, MxRounding.NearestEven);
            }
            if (mode == OcsSplitMode.Qa && reference is null) throw new InvalidOperationException($"tensor '{name}': a quantization-aware split needs 'reference_format'");
        }
        RecipeActivation? activation = null;
        if (o["activation"] is JsonObject a)
        {
            string? af = a["format"]?.GetValue<string>();
            TensorSettings? actSettings = null;
            if (af != null && !af.Equals("fp32", StringComparison.OrdinalIgnoreCase))
            {
                if (!MxFormats.TryParse(af, out var f)) throw new InvalidOperationException($"tensor '{name}': unknown activation format '{af}'");
                actSettings = new TensorSettings(f, a["block_size"]?.GetValue<int>() ?? f.DefaultBlockSize, MxScaleMode.Floor, MxRounding.NearestEven);
            }
            activation = new RecipeActivation(a["value"]?.GetValue<string>() ?? "", af != null, actSettings, a["bits"]?.GetValue<double>(), a["sqnr_db"]?.GetValue<double>(),
                a["output_error"] is JsonObject ae ? ParseError(ae) : null, a["amax"]?.GetValue<double>(), a["p99_9"]?.GetValue<double>(),
                a["outlier_channels"]?.AsArray().Select(x => x!.GetValue<int>()).ToList() ?? []);
        }
        return new RecipeTensor(name, o["op"]?.GetValue<string>() ?? "", settings, o["bits"]?.GetValue<double>() ?? 0,
            o["tensor_sqnr_db"]?.GetValue<double>(), o["output_error"] is JsonObject e ? ParseError(e) : null, ocs, via, null, null)
        {
            OcsSide = side,
            OcsMode = mode,
            OcsReference = reference,
            Activation = activation,
            LocalNsr = o["local_nsr"]?.GetValue<double>(),
            Sensitivity = o["sensitivity"]?.GetValue<double>(),
            Method = o["method"]?.GetValue<string>(),
        };
    }
}
