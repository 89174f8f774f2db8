using Mx.Onnx.Reports;
using Mx.Runtime;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Data;

/// <summary>
/// The calibration samples a run rests on, with a description of where they came from. Selection measures each
/// candidate on every sample, so the samples are held in memory; statistics stream over them.
/// </summary>
/// <param name="Samples">Input name → tensor, one dictionary per sample.</param>
/// <param name="Source">Where they came from (a folder, "random", "application"), for the recipe and report.</param>
/// <param name="IsRandom">Whether the samples are random inputs (the choice then rests on random data).</param>
public sealed record CalibrationSamples(IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Samples, string Source, bool IsRandom)
{
    /// <summary>The value of <c>--calib</c> that asks for random inputs.</summary>
    public const string RandomSpec = "random";

    /// <summary>
    /// Loads <paramref name="spec"/>: <c>random</c>; a folder of <c>&lt;input&gt;.npy</c> files (first axis = samples);
    /// or a folder holding ONNX <c>test_data_set_*</c> folders (or being one) of <c>input_*.pb</c> files.
    /// </summary>
    /// <param name="spec">The folder or <c>random</c>.</param>
    /// <param name="inputs">The model's inputs.</param>
    /// <param name="maxSamples">Keep at most this many samples (the first ones).</param>
    /// <param name="randomCount">Samples drawn for <c>random</c>.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The folder holds neither form, or a file does not fit an input; the message names it.</exception>
    public static CalibrationSamples Load(string spec, IReadOnlyList<OrtTensorInfo> inputs, int? maxSamples = null, int randomCount = 8)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(inputs);
        if (spec.Equals(RandomSpec, StringComparison.OrdinalIgnoreCase))
            return new CalibrationSamples(RandomSamples.Create(inputs, maxSamples ?? randomCount, seed: 1234), RandomSpec, true);
        if (!Directory.Exists(spec)) throw new DirectoryNotFoundException($"calibration folder not found: {spec}");
        IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> samples = TestDataSetSamples.IsTestDataLayout(spec)
            ? TestDataSetSamples.Load(spec, inputs)
            : NpySamples.Load(spec, inputs);
        if (samples.Count == 0) throw new InvalidDataException($"{spec}: no calibration samples");
        if (maxSamples is int m && samples.Count > m) samples = samples.Take(m).ToList();
        return new CalibrationSamples(samples, Path.GetFullPath(spec), false);
    }

    /// <summary>Reads every sample of an application's reader.</summary>
    /// <exception cref="InvalidDataException">The reader gave no samples.</exception>
    public static CalibrationSamples FromReader(ICalibrationDataReader reader, string source = "application", int? maxSamples = null)
    {
        var list = new List<IReadOnlyDictionary<string, HostTensor>>();
        foreach (var s in reader.AsEnumerable())
        {
            list.Add(s);
            if (list.Count == maxSamples) break;
        }
        if (list.Count == 0) throw new InvalidDataException($"{source}: the calibration reader gave no samples");
        return new CalibrationSamples(list, source, false);
    }
}
