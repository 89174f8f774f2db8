using Mx.Runtime;
using Mx.Runtime.IO;
using Mx.Runtime.Ort;

namespace Mx.Onnx.Reports;

/// <summary>
/// Samples from a folder of <c>&lt;input name&gt;.npy</c> files, one per model input, whose first axis indexes the
/// samples. Each sample (the file without its first axis) is given the input's declared shape: as is when it fits;
/// with a leading 1 added when the declared shape has one more (batch) dimension; otherwise the declared shape when the
/// element counts match (a single dynamic dimension is inferred).
/// </summary>
public static class NpySamples
{
    /// <summary>Loads every sample for <paramref name="inputs"/> from <paramref name="dataDir"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is missing, has the wrong element type, a shape that does not fit, or a different sample count; the message lists the expected inputs and shapes.</exception>
    public static IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Load(string dataDir, IReadOnlyList<OrtTensorInfo> inputs)
    {
        ArgumentNullException.ThrowIfNull(dataDir);
        ArgumentNullException.ThrowIfNull(inputs);
        if (!Directory.Exists(dataDir)) throw new DirectoryNotFoundException($"data folder not found: {dataDir}");
        string expected = $"expected one .npy per input, first axis = samples: {string.Join("; ", inputs.Select(i => $"{FileName(i.Name)} for {i}"))}";
        var perInput = new List<(OrtTensorInfo Info, HostTensor[] Samples, string File)>();
        foreach (var input in inputs.Where(i => i.IsTensor))
        {
            string path = Path.Combine(dataDir, FileName(input.Name));
            if (!File.Exists(path))
            {
                var found = Directory.GetFiles(dataDir, "*.npy").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
                throw new InvalidDataException($"{dataDir}: no {FileName(input.Name)} for input '{input.Name}'; {expected}; found: {(found.Length == 0 ? "no .npy files" : string.Join(", ", found))}");
            }
            HostTensor all;
            try
            {
                all = NpyFile.Read(path);
            }
            catch (Exception ex) when (ex is NpyFormatException or IOException)
            {
                throw new InvalidDataException($"{path}: cannot read: {ex.Message}", ex);
            }
            perInput.Add((input, Split(all, input, path, expected), path));
        }
        if (perInput.Count == 0) throw new InvalidDataException($"{dataDir}: the model has no tensor inputs to feed");
        int n = perInput[0].Samples.Length;
        var mismatch = perInput.FirstOrDefault(p => p.Samples.Length != n);
        if (mismatch.File is not null)
            throw new InvalidDataException($"{dataDir}: {Path.GetFileName(perInput[0].File)} has {n} samples but {Path.GetFileName(mismatch.File)} has {mismatch.Samples.Length}");
        var result = new IReadOnlyDictionary<string, HostTensor>[n];
        for (int s = 0; s < n; s++)
            result[s] = perInput.ToDictionary(p => p.Info.Name, p => p.Samples[s], StringComparer.Ordinal);
        return result;
    }

    /// <summary>The file name for an input: the name with characters a file name cannot hold replaced by '_', plus <c>.npy</c>.</summary>
    public static string FileName(string inputName)
    {
        var invalid = Path.GetInvalidFileNameChars();
        return new string(inputName.Select(ch => invalid.Contains(ch) ? '_' : ch).ToArray()) + ".npy";
    }

    private static HostTensor[] Split(HostTensor all, OrtTensorInfo input, string path, string expected)
    {
        if (all.Shape.Length == 0 || all.Shape[0] == 0)
            throw new InvalidDataException($"{path}: shape [{string.Join(", ", all.Shape)}] has no samples along its first axis; {expected}");
        HostTensor source = all;
        if (all.ElementType != input.ElementType)
        {
            bool widen = input.ElementType == TensorElementType.Float && all.ElementType is TensorElementType.Double or TensorElementType.Float16;
            if (!widen)
                throw new InvalidDataException($"{path}: element type {all.ElementType.OnnxName()}, but input {input} needs {input.ElementType.OnnxName()}");
            source = HostTensor.FromFloats(all.ToFloatArray(), all.Shape);
        }
        if (source.ElementType.BitsPerElement() % 8 != 0)
            throw new InvalidDataException($"{path}: {source.ElementType.OnnxName()} samples are not supported (sub-byte elements)");
        long n = all.Shape[0];
        long[] sampleShape = all.Shape[1..];
        long count = HostTensor.ElementCountOf(sampleShape);
        long[] shape = FitShape(sampleShape, count, input)
            ?? throw new InvalidDataException($"{path}: a sample of shape [{string.Join(", ", sampleShape)}] ({count} values) does not fit input {input}; {expected}");
        int bytes = checked((int)source.ElementType.ByteCount(count));
        var result = new HostTensor[n];
        for (long s = 0; s < n; s++)
            result[s] = new HostTensor(source.ElementType, (long[])shape.Clone(), source.Data.AsSpan(checked((int)(s * bytes)), bytes).ToArray());
        return result;
    }

    private static long[]? FitShape(long[] sample, long count, OrtTensorInfo input)
    {
        if (input.Accepts(sample)) return sample;
        long[] batched = [1, .. sample];
        if (input.Accepts(batched)) return batched;
        long[] declared = input.Shape;
        int dynamic = declared.Count(d => d < 0);
        long known = declared.Where(d => d >= 0).Aggregate(1L, (a, d) => a * d);
        if (dynamic == 0) return known == count ? declared : null;
        if (dynamic > 1 || known == 0 || count % known != 0) return null;
        return declared.Select(d => d < 0 ? count / known : d).ToArray();
    }
}
