using System.Diagnostics;
using Mx.Calibration;
using Mx.Calibration.Data;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Diagnostics;
using Mx.Onnx.Quantization;
using Mx.Runtime;

namespace Mx.Bench;

/// <summary>One calibration run of <see cref="CalibrateBench"/>.</summary>
/// <param name="Model">What was calibrated.</param>
/// <param name="Parameters">Elements of the calibrated weights.</param>
/// <param name="Weights">Weights calibrated.</param>
/// <param name="Samples">Calibration samples.</param>
/// <param name="Seconds">Wall time of the calibration (capture to verified recipe).</param>
/// <param name="NanosecondsPerParameter">Seconds per calibrated parameter, in ns.</param>
/// <param name="PeakRssBytes">Peak resident set during the calibration (VmHWM, reset before it).</param>
/// <param name="AverageBits">Bits per weight of the result.</param>
/// <param name="Budget">The budget.</param>
/// <param name="SensitivityRuns">Whole-model sensitivity runs.</param>
/// <param name="VerificationRuns">Whole-model verification runs.</param>
/// <param name="Recipe">The recipe.</param>
public sealed record CalibrateBenchRow(string Model, long Parameters, int Weights, int Samples, double Seconds, double NanosecondsPerParameter, long PeakRssBytes,
    double AverageBits, string Budget, int SensitivityRuns, int VerificationRuns, CalibrationRecipe Recipe);

/// <summary>
/// <c>mx bench calibrate</c>: auto mode (<see cref="Calibrator"/>) on generated models of growing size — by default the
/// transformer shape at widths 128, 256 and 512 (1×, 4× and 16× the parameters, the same samples) — timing each run
/// and its peak RSS, to show how the cost grows with the model; or on one model (a generated CNN, or a file).
/// </summary>
public static class CalibrateBench
{
    /// <summary>Calibrates <paramref name="model"/> on <paramref name="samples"/> under <paramref name="budget"/> and measures it.</summary>
    public static CalibrateBenchRow Run(string name, OnnxModel model, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> samples, Budget budget,
        Func<CalibrationOptions, CalibrationOptions>? configure = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(samples);
        var options = new CalibrationOptions { Budget = budget, Log = log };
        if (configure != null) options = configure(options);
        ProcessMemory.ResetPeak();
        var clock = Stopwatch.StartNew();
        var recipe = Calibrator.Calibrate(model, new CalibrationSamples(samples, name, false), options, name);
        double seconds = clock.Elapsed.TotalSeconds;
        long peak = ProcessMemory.PeakResidentBytes();
        var sizes = WeightFinder.Find(model).Candidates.GroupBy(c => c.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(c => c.ElementCount), StringComparer.Ordinal);
        long parameters = recipe.Tensors.Sum(t => sizes[t.Name]);
        return new CalibrateBenchRow(name, parameters, recipe.Tensors.Count, samples.Count, seconds, seconds * 1e9 / Math.Max(1, parameters), peak, recipe.AverageBits,
            recipe.Budget, recipe.Cost?.SensitivityRuns ?? 0, recipe.Cost?.VerificationRuns ?? 0, recipe);
    }

    /// <summary>The scaling runs: the transformer shape at widths 128, 256, 512, <paramref name="samples"/> samples of 64 tokens each.</summary>
    public static IReadOnlyList<CalibrateBenchRow> Scaling(double maxBits, int samples, Action<string>? log = null)
    {
        var rows = new List<CalibrateBenchRow>();
        foreach (int width in new[] { 128, 256, 512 })
        {
            using var model = CalibrationBenchModels.Transformer(width);
            var data = CalibrationBenchModels.Samples(model, samples);
            rows.Add(Run($"transformer width {width}", model, data, Budget.Bits(maxBits)));
            log?.Invoke(Line(rows[^1]));
        }
        return rows;
    }

    /// <summary>
    /// A transformer-shaped chain of 4096 × 4096 and 4096 × 11008 MatMuls with <paramref name="gib"/> GiB of float32 weights
    /// in an external data file (the quantize benchmark's model), calibrated from the file in <paramref name="folder"/>
    /// (created and deleted): the capture's statistics pass <paramref name="memory"/> and are chunked and spilled.
    /// </summary>
    public static CalibrateBenchRow Large(double gib, int samples, long memory, string folder, Action<string>? log = null)
    {
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "large.onnx");
            long bytes = QuantizeBench.Generate(path, (long)(gib * (1L << 30)));
            log?.Invoke($"generated {bytes / (double)(1L << 30):F2} GiB of float32 weights in external data");
            using var model = OnnxModel.Load(path);
            var data = CalibrationBenchModels.Samples(model, samples);
            return Run($"{bytes / (double)(1L << 30):F1} GiB external data", model, data, Budget.Bits(4.5),
                o => o with { Capture = o.Capture with { MemoryBytes = memory, SpillFolder = Path.Combine(folder, "spill") } }, log);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>One line of figures.</summary>
    public static string Line(CalibrateBenchRow r) =>
        $"{r.Model,-24} {r.Parameters,11:N0} params {r.Weights,4} weights {r.Samples,3} samples: {r.Seconds,7:F1} s, {r.NanosecondsPerParameter,8:F1} ns/param, " +
        $"peak RSS {r.PeakRssBytes / (double)(1L << 30),5:F2} GiB, {r.AverageBits:F3} bits ({r.Budget}), {r.SensitivityRuns} sensitivity + {r.VerificationRuns} verification runs";
}
