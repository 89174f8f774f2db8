using Mx.Runtime.Formats;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// <c>mx.onnx.MxQuantizeDequantize</c> (docs/ops.md): fake-quantizes a float32 tensor to an MX format along an axis,
/// bit-identical to <see cref="MxQuantizer"/>'s quantize then dequantize.
/// </summary>
public static class MxQuantizeDequantizeOp
{
    /// <summary>The node op_type.</summary>
    public const string Name = "MxQuantizeDequantize";

    /// <summary>The op definition (input X float32; output Y float32 of the same shape).</summary>
    public static CustomOpDefinition Definition { get; } = Create();

    /// <summary>A new, equal definition, for another domain instance (an op joins one domain).</summary>
    internal static CustomOpDefinition Create() => new(Name,
        [new(TensorElementType.Float)], [new(TensorElementType.Float)],
        info => new MxQuantizeDequantizeNodeKernel(info));
}

/// <summary>One MxQuantizeDequantize node. Immutable after creation.</summary>
internal sealed unsafe class MxQuantizeDequantizeNodeKernel : ICustomKernel
{
    private readonly MxFormat _format;
    private readonly int _blockSize;
    private readonly long _axis;
    private readonly MxScaleMode _scaleMode;
    private readonly MxRounding _rounding;

    public MxQuantizeDequantizeNodeKernel(KernelInfo info)
    {
        _format = MxOpAttributes.Format(info);
        _blockSize = MxOpAttributes.BlockSize(info, _format);
        _axis = info.GetInt("axis", -1);
        _scaleMode = MxOpAttributes.ScaleMode(info);
        _rounding = MxOpAttributes.Rounding(info);
    }

    public void Compute(KernelContext context)
    {
        var x = context.Input(0);
        long[] shape = x.Shape;
        if (shape.Length == 0) throw new ArgumentException("input X is a scalar; it needs rank ≥ 1 to have a block axis");
        if (_axis < -shape.Length || _axis >= shape.Length)
            throw new ArgumentException($"attribute 'axis' = {_axis} is out of range for input X of shape [{string.Join(", ", shape)}]");
        var y = context.Output(0, shape);
        if (x.ElementCount == 0) return;
        if (shape.Any(d => d > int.MaxValue)) throw new ArgumentException($"input X of shape [{string.Join(", ", shape)}] has a dimension too large");
        var layout = new MxPackedLayout(_format, shape.Select(d => (int)d).ToArray(), (int)_axis, _blockSize);
        PackedRows.QuantizeDequantize(layout, x.Pointer<float>(), y.Pointer<float>(), _scaleMode, _rounding, context);
    }
}
