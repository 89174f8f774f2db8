using System.Text.RegularExpressions;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>The form a quantized weight takes in the output model.</summary>
public enum EmitForm
{
    /// <summary>MX-packed uint8 initializers read by the <c>mx.onnx</c> custom ops (MxMatMul, MxGather, MxDequantize).</summary>
    Packed,

    /// <summary>Standard ONNX: blocked <c>DequantizeLinear</c> with low-precision data and power-of-two scales.</summary>
    Qdq,

    /// <summary>Fake quantization: the same graph with the weights replaced by their MX-dequantized float32 values.</summary>
    Fake,

    /// <summary>
    /// Not MX: ONNX Runtime's <c>com.microsoft.MatMulNBits</c> with 4-bit integer blocks and float32 scales (see
    /// <see cref="MatMulNBitsOptions"/>), the baseline a user would otherwise pick; MatMul and Gemm weights only.
    /// </summary>
    MatMulNBits,
}

/// <summary>The settings of <see cref="EmitForm.MatMulNBits"/> (block size: <see cref="QuantizationOptions.BlockSize"/>, default 32).</summary>
public sealed record MatMulNBitsOptions
{
    /// <summary>
    /// MatMulNBits' <c>accuracy_level</c>: 0 (unset: float32 activations), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8:
    /// ONNX Runtime quantizes the activations per block to int8, its fastest CPU path). Default 4.
    /// </summary>
    public int AccuracyLevel { get; init; } = 4;

    /// <summary>Store a 4-bit zero point per block (min/max range) instead of the symmetric default (zero point 8). Default false.</summary>
    public bool ZeroPoints { get; init; }
}

/// <summary>How packed MatMul/Gemm weights are stored (docs/packed-layout.md).</summary>
public enum WeightStorage
{
    /// <summary>N rows of K, blocks along each row (the default; every op and format).</summary>
    RowMajor,

    /// <summary>
    /// All N rows of one K-block together, in 16-row tiles (MXFP4, MXINT4, MXINT8 with blocks of 32, MatMul/Gemm
    /// weights): the kernels skip the K-blocks whose activations are zero as whole streams.
    /// </summary>
    KMajor,
}

/// <summary>How one weight is quantized: format, block size, scale choice and element rounding.</summary>
/// <param name="Format">The MX format.</param>
/// <param name="BlockSize">Elements per shared scale.</param>
/// <param name="ScaleMode">Scale choice per block.</param>
/// <param name="Rounding">Element rounding.</param>
public sealed record TensorSettings(MxFormat Format, int BlockSize, MxScaleMode ScaleMode, MxRounding Rounding)
{
    /// <summary>The scale mode as the metadata and CLI spell it (<c>floor</c>, <c>ceil</c>, <c>mse</c>).</summary>
    public string ScaleText => QuantizationText.Scale(ScaleMode);

    /// <summary>The rounding as the metadata and CLI spell it (<c>even</c>, <c>away</c>).</summary>
    public string RoundingText => QuantizationText.Rounding(Rounding);

    /// <summary>
    /// The activation format of the ops that read this weight (their activation input), overriding the model-wide
    /// <see cref="QuantizationOptions.ActFormat"/>; null follows it (unless <see cref="ActFloat32"/>).
    /// </summary>
    public MxFormat? ActFormat { get; init; }

    /// <summary>Leave the activation input of the ops that read this weight in float32, whatever the model-wide format.</summary>
    public bool ActFloat32 { get; init; }

    /// <summary>The activation format that applies to this weight's ops: float32 when <see cref="ActFloat32"/>, else <see cref="ActFormat"/>, else <paramref name="modelWide"/>.</summary>
    public MxFormat? ResolveActFormat(MxFormat? modelWide) => ActFloat32 ? null : ActFormat ?? modelWide;
}

/// <summary>The model-wide choices of a quantization run; the default <see cref="QuantizationPlan"/> is built from them.</summary>
public sealed record QuantizationOptions
{
    /// <summary>Operators whose weights can be quantized.</summary>
    public static readonly IReadOnlyList<string> SupportedOps = ["MatMul", "Gemm", "Conv", "Gather"];

    /// <summary>The default format. Default MXFP4 (E2M1).</summary>
    public MxFormat Format { get; init; } = MxFormats.Mxfp4E2M1;

    /// <summary>Elements per block; null: the format's default (32, or 16 for MX9/6/4).</summary>
    public int? BlockSize { get; init; }

    /// <summary>Scale choice per block. Default floor (OCP).</summary>
    public MxScaleMode ScaleMode { get; init; } = MxScaleMode.Floor;

    /// <summary>Element rounding. Default round half to even (OCP).</summary>
    public MxRounding Rounding { get; init; } = MxRounding.NearestEven;

    /// <summary>Activation format for the inputs of quantized ops; null leaves activations in float32.</summary>
    public MxFormat? ActFormat { get; init; }

    /// <summary>The emitted form. Default <see cref="EmitForm.Packed"/>.</summary>
    public EmitForm Emit { get; init; } = EmitForm.Packed;

    /// <summary>The settings of <see cref="EmitForm.MatMulNBits"/> (ignored by the other forms).</summary>
    public MatMulNBitsOptions MatMulNBits { get; init; } = new();

    /// <summary>Operators whose weights are quantized (a subset of <see cref="SupportedOps"/>). Default all.</summary>
    public IReadOnlySet<string> Ops { get; init; } = new HashSet<string>(SupportedOps, StringComparer.Ordinal);

    /// <summary>Weights whose name matches any of these are left alone.</summary>
    public IReadOnlyList<Regex> Exclude { get; init; } = [];

    /// <summary>Weights with fewer elements are left alone. Default 1024.</summary>
    public long MinElements { get; init; } = 1024;

    /// <summary>Quantize even a model that already holds quantization ops.</summary>
    public bool Force { get; init; }

    /// <summary>
    /// Storage of packed MatMul/Gemm weights. <see cref="WeightStorage.KMajor"/> applies to each weight the K-major
    /// layout can hold (MXFP4, MXINT4, MXINT8, blocks of 32, read only by MatMul/Gemm); the others stay row-major, with a note.
    /// </summary>
    public WeightStorage Storage { get; init; } = WeightStorage.RowMajor;

    /// <summary>
    /// Fraction (0 ≤ f &lt; 1) of each K-major weight's (K-block, 16-row tile) units to zero before quantizing: those
    /// with the lowest importance (Σ w², weighted by the input's second moment per K index where the plan has it).
    /// Zeroed tiles are not stored and the kernels skip them. 0: no pruning.
    /// </summary>
    public double PruneBlocks { get; init; }

    /// <summary>
    /// MxMatMul's <c>sparse_threshold</c> for K-major weights: activation blocks whose largest |a| is at most this are
    /// treated as zero and skipped (0: only exact zeros, which is exact).
    /// </summary>
    public float SparseThreshold { get; init; }

    /// <summary>The settings every quantized weight gets unless a plan overrides them.</summary>
    public TensorSettings DefaultSettings => new(Format, BlockSize ?? Format.DefaultBlockSize, ScaleMode, Rounding);
}

/// <summary>The spellings of enum values shared by the CLI, the plan and the metadata.</summary>
public static class QuantizationText
{
    /// <summary><c>floor</c>, <c>ceil</c> or <c>mse</c>.</summary>
    public static string Scale(MxScaleMode mode) => mode switch
    {
        MxScaleMode.Ceil => "ceil",
        MxScaleMode.Mse => "mse",
        _ => "floor",
    };

    /// <summary><c>even</c> or <c>away</c>.</summary>
    public static string Rounding(MxRounding rounding) => rounding == MxRounding.NearestAway ? "away" : "even";

    /// <summary><c>packed</c>, <c>qdq</c>, <c>fake</c> or <c>matmulnbits</c>.</summary>
    public static string Emit(EmitForm emit) => emit.ToString().ToLowerInvariant();

    /// <summary>Parses <c>floor</c>, <c>ceil</c>, <c>mse</c>.</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static MxScaleMode ParseScale(string text) => text.Trim().ToLowerInvariant() switch
    {
        "floor" => MxScaleMode.Floor,
        "ceil" => MxScaleMode.Ceil,
        "mse" => MxScaleMode.Mse,
        _ => throw new ArgumentException($"unknown scale mode '{text}'; use floor, ceil or mse"),
    };

    /// <summary>Parses <c>even</c>, <c>away</c>.</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static MxRounding ParseRounding(string text) => text.Trim().ToLowerInvariant() switch
    {
        "even" => MxRounding.NearestEven,
        "away" => MxRounding.NearestAway,
        _ => throw new ArgumentException($"unknown rounding '{text}'; use even or away"),
    };

    /// <summary>Parses <c>packed</c>, <c>qdq</c>, <c>fake</c>, <c>matmulnbits</c>.</summary>
    /// <exception cref="ArgumentException">Another value.</exception>
    public static EmitForm ParseEmit(string text) => text.Trim().ToLowerInvariant() switch
    {
        "packed" => EmitForm.Packed,
        "qdq" => EmitForm.Qdq,
        "fake" => EmitForm.Fake,
        "matmulnbits" => EmitForm.MatMulNBits,
        _ => throw new ArgumentException($"unknown emit form '{text}'; use packed, qdq, fake or matmulnbits"),
    };
}
