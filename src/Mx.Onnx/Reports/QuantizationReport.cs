using Mx.Onnx.Quantization;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Reports;

/// <summary>
/// What quantization did to a model: per weight the bytes before and after and the weight SQNR (decoded from the
/// quantized file and compared with the original file's weights), the weights left alone, the file sizes and, when
/// sample data is given, how far the quantized model's outputs are from the original's. Write it with
/// <see cref="QuantizationReportWriter"/>.
/// </summary>
public sealed class QuantizationReport
{
    /// <summary>The original model file.</summary>
    public required string OriginalModel { get; init; }

    /// <summary>The quantized model file.</summary>
    public required string QuantizedModel { get; init; }

    /// <summary>The quantizer's settings and per-tensor records, as read from the quantized file.</summary>
    public required QuantizationMetadata Metadata { get; init; }

    /// <summary>The <c>mx.tool</c> metadata value (e.g. <c>mx 0.1.0</c>), or empty.</summary>
    public required string Tool { get; init; }

    /// <summary>Per quantized weight, in metadata order.</summary>
    public required IReadOnlyList<TensorReport> Tensors { get; init; }

    /// <summary>The weights the quantizer skipped, with reasons.</summary>
    public required IReadOnlyList<SkippedTensorEntry> Skipped { get; init; }

    /// <summary>Bytes of the original model file plus its external data files.</summary>
    public required long TotalBytesBefore { get; init; }

    /// <summary>Bytes of the quantized model file plus its external data files.</summary>
    public required long TotalBytesAfter { get; init; }

    /// <summary>The sample data folder, when outputs were compared.</summary>
    public string? DataDir { get; init; }

    /// <summary>The output comparison over the samples, or null without data.</summary>
    public ModelComparisonResult? Comparison { get; init; }

    /// <summary>TotalBytesBefore / TotalBytesAfter.</summary>
    public double Ratio => TotalBytesAfter == 0 ? 0 : (double)TotalBytesBefore / TotalBytesAfter;

    /// <summary>Weights quantized (sum of the tensors' element counts).</summary>
    public long QuantizedWeights => Tensors.Sum(t => t.Elements);

    /// <summary>Stored bits per quantized weight in the quantized file, scales and micro-exponents included.</summary>
    public double AvgBitsPerWeight => QuantizedWeights == 0 ? 0 : 8.0 * Tensors.Sum(t => t.BytesAfter) / QuantizedWeights;

    /// <summary>Bits per quantized weight the MX formats need in the packed layout (equals <see cref="AvgBitsPerWeight"/> for packed models).</summary>
    public double FormatBitsPerWeight => QuantizedWeights == 0 ? 0 : 8.0 * Tensors.Sum(t => t.FormatBytes) / QuantizedWeights;

    /// <summary>Totals per format, largest stored bytes first.</summary>
    public IReadOnlyList<FormatTotals> ByFormat => Tensors.GroupBy(t => t.Format)
        .Select(g => new FormatTotals(g.Key, g.Count(), g.Sum(t => t.Elements), g.Sum(t => t.BytesBefore), g.Sum(t => t.BytesAfter)))
        .OrderByDescending(f => f.BytesAfter).ThenBy(f => f.Format, StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Builds the report. <paramref name="dataDir"/>, when given, is a folder of <c>&lt;input&gt;.npy</c> files (see
    /// <see cref="NpySamples"/>) on which both models are run.
    /// </summary>
    /// <exception cref="FileNotFoundException">A model file is missing.</exception>
    /// <exception cref="InvalidDataException">The quantized model has no <c>mx.quantization</c> metadata, or it names
    /// tensors that are missing or malformed; the data folder does not fit the model. Messages name the file and tensor.</exception>
    public static QuantizationReport Create(string originalModelPath, string quantizedModelPath, string? dataDir = null)
    {
        ArgumentNullException.ThrowIfNull(originalModelPath);
        ArgumentNullException.ThrowIfNull(quantizedModelPath);
        using var original = OnnxModel.Load(originalModelPath);
        using var quantized = OnnxModel.Load(quantizedModelPath);
        var metadata = QuantizationMetadata.Of(quantized);
        var tensors = metadata.Tensors.Select(e => Measure(original, quantized, e, metadata.Emit)).ToArray();
        ModelComparisonResult? comparison = null;
        if (dataDir is not null)
        {
            using var models = ModelComparison.FromFiles(originalModelPath, quantizedModelPath);
            comparison = models.Compare(NpySamples.Load(dataDir, models.Inputs));
        }
        return new QuantizationReport
        {
            OriginalModel = originalModelPath,
            QuantizedModel = quantizedModelPath,
            Metadata = metadata,
            Tool = quantized.Proto.MetadataProps.FirstOrDefault(p => p.Key == QuantizationMetadata.ToolKey)?.Value ?? "",
            Tensors = tensors,
            Skipped = metadata.Skipped,
            TotalBytesBefore = ModelFileSize.Of(original),
            TotalBytesAfter = ModelFileSize.Of(quantized),
            DataDir = dataDir,
            Comparison = comparison,
        };
    }

    private static TensorReport Measure(OnnxModel original, OnnxModel quantized, QuantizedTensorEntry entry, string emit)
    {
        var weight = ModelTensors.Find(original, entry.Name)
            ?? throw new InvalidDataException($"{original.Source}: weight '{entry.Name}' named in the metadata of {quantized.Source} is not an initializer or Constant of the original model");
        if (!TensorReader.IsConvertibleToFloat(weight.ElementType))
            throw new InvalidDataException($"{original.Source}: weight '{entry.Name}' is {weight.ElementType.OnnxName()}, not a number type");
        float[] reference = weight.ReadFloat32();
        var decoded = QuantizedWeightDecoder.Decode(quantized, entry, emit);
        if (decoded.Values.Length != reference.Length)
            throw new InvalidDataException($"{quantized.Source}: tensor '{entry.Name}' decodes to {decoded.Values.Length} values but the original [{string.Join(", ", weight.Shape)}] has {reference.Length}");
        var stats = MxErrorMetrics.Compute(reference, decoded.Values);
        return new TensorReport(entry.Name, entry.Op, weight.Shape, weight.ElementType.OnnxName(), entry.Format, entry.BlockSize,
            reference.LongLength, weight.ByteCount, decoded.StoredBytes, decoded.FormatBytes, stats.SqnrDb, stats.Mse, stats.MaxAbsError);
    }
}
