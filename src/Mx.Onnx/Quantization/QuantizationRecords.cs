namespace Mx.Onnx.Quantization;

/// <summary>
/// One quantized tensor (one per distinct layout of a weight), as recorded in the <c>mx.quantization</c> metadata.
/// <see cref="BlockShape"/> and <see cref="Axis"/> are the MX layout: <c>MxPackedTensor.View(format, BlockShape, Axis,
/// BlockSize, elements, scales, micro)</c> then dequantize gives the weights in <see cref="BlockShape"/> row-major order.
/// </summary>
public sealed record QuantizedTensorRecord
{
    /// <summary>The original initializer or Constant name.</summary>
    public required string Name { get; init; }
    /// <summary>MatMul, Gemm, Conv or Gather.</summary>
    public required string Op { get; init; }
    /// <summary>The nodes that read this packing of the weight.</summary>
    public required IReadOnlyList<string> Nodes { get; init; }
    /// <summary>The original shape.</summary>
    public required IReadOnlyList<long> Shape { get; init; }
    /// <summary>The original element type (<c>float</c>).</summary>
    public string DType { get; init; } = "float";
    /// <summary>The settings used.</summary>
    public required TensorSettings Settings { get; init; }
    /// <summary>The layout's shape (a reshape of <see cref="Shape"/>).</summary>
    public required IReadOnlyList<int> BlockShape { get; init; }
    /// <summary>The block axis of <see cref="BlockShape"/>.</summary>
    public required int Axis { get; init; }
    /// <summary>The initializer holding the element codes (packed, matmulnbits), the DequantizeLinear data (qdq), or the fake-quantized float32 weight.</summary>
    public required string Elements { get; init; }
    /// <summary>The scales initializer; null for fake.</summary>
    public string? Scales { get; init; }
    /// <summary>The micro-exponent initializer (MX9/6/4 packed); null otherwise.</summary>
    public string? Micro { get; init; }
    /// <summary>Packed storage: <c>rowmajor</c>, or <c>kmajor</c> (docs/packed-layout.md, "K-major layout").</summary>
    public string Layout { get; init; } = "rowmajor";
    /// <summary>The K-major tile mask initializer, when all-zero tiles are not stored; null otherwise.</summary>
    public string? Mask { get; init; }
    /// <summary>The zero-point initializer of a MatMulNBits weight with zero points; null otherwise.</summary>
    public string? ZeroPoints { get; init; }
    /// <summary>Bytes of the original tensor.</summary>
    public required long BytesBefore { get; init; }
    /// <summary>Bytes of everything this tensor occupies in the output.</summary>
    public required long BytesAfter { get; init; }
    /// <summary>Remarks (padding, several layouts, runtime support).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>A weight left in float32 and why.</summary>
/// <param name="Name">The tensor.</param>
/// <param name="Op">The operator that reads it (or the first one).</param>
/// <param name="Reason">Why it was not quantized.</param>
public sealed record SkippedTensorRecord(string Name, string Op, string Reason);

/// <summary>What one weight's quantization is doing, for progress display.</summary>
/// <param name="Done">Weights finished so far.</param>
/// <param name="Total">Weights to quantize.</param>
/// <param name="Tensor">The weight just finished.</param>
/// <param name="BytesDone">float32 bytes processed so far.</param>
/// <param name="BytesTotal">float32 bytes to process.</param>
public sealed record QuantizationProgress(int Done, int Total, string Tensor, long BytesDone, long BytesTotal);

/// <summary>The outcome of <see cref="ModelQuantizer.Quantize"/>.</summary>
public sealed record QuantizationResult
{
    /// <summary>The options of the plan.</summary>
    public required QuantizationOptions Options { get; init; }
    /// <summary>One record per quantized tensor (per layout).</summary>
    public required IReadOnlyList<QuantizedTensorRecord> Tensors { get; init; }
    /// <summary>Weights and large float constants left alone.</summary>
    public required IReadOnlyList<SkippedTensorRecord> Skipped { get; init; }
    /// <summary>Model-wide remarks (opset raised, runtime support of the emitted form).</summary>
    public required IReadOnlyList<string> Notes { get; init; }
    /// <summary>The <c>mx.quantization</c> JSON written into the model.</summary>
    public required string MetadataJson { get; init; }

    /// <summary>Distinct weights quantized.</summary>
    public int QuantizedWeights => Tensors.Select(t => t.Name).Distinct().Count();
    /// <summary>float32 bytes of the quantized weights.</summary>
    public long BytesBefore => Tensors.GroupBy(t => t.Name).Sum(g => g.First().BytesBefore);
    /// <summary>Bytes the quantized weights occupy now.</summary>
    public long BytesAfter => Tensors.Sum(t => t.BytesAfter);
}
