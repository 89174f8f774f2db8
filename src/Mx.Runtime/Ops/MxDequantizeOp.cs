using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// <c>mx.onnx.MxDequantize</c> (docs/ops.md): packed bytes → float32 tensor of the <c>shape</c> attribute, for
/// weights of ops without a packed kernel. Constant inputs are decoded once at kernel creation.
/// </summary>
public static class MxDequantizeOp
{
    /// <summary>The node op_type.</summary>
    public const string Name = "MxDequantize";

    /// <summary>The op definition (inputs elements, scales, micro?; output float32).</summary>
    public static CustomOpDefinition Definition { get; } = Create();

    /// <summary>A new, equal definition, for another domain instance (an op joins one domain).</summary>
    internal static CustomOpDefinition Create() => new(Name,
        [new(TensorElementType.UInt8), new(TensorElementType.UInt8), new(TensorElementType.UInt8, CustomOpArity.Optional)],
        [new(TensorElementType.Float)],
        info => new MxDequantizeNodeKernel(info));
}

/// <summary>One MxDequantize node. Immutable after creation.</summary>
internal sealed unsafe class MxDequantizeNodeKernel : ICustomKernel
{
    private readonly MxPackedLayout _layout;
    private readonly long[] _shape;
    private readonly float[]? _constant;   // the decoded tensor when the packed inputs are initializers

    public MxDequantizeNodeKernel(KernelInfo info)
    {
        MxFormat format = MxOpAttributes.Format(info);
        int bs = MxOpAttributes.BlockSize(info, format);
        if (!info.TryGetInts("shape", out long[]? shape) || shape is null || shape.Length == 0)
            throw new ArgumentException("missing required ints attribute 'shape' (the logical shape, rank ≥ 1)");
        foreach (long d in shape)
            if (d < 0 || d > int.MaxValue) throw new ArgumentException($"attribute 'shape' = [{string.Join(", ", shape)}] has an invalid dimension {d}");
        long axis = info.GetInt("axis", -1);
        if (axis < -shape.Length || axis >= shape.Length)
            throw new ArgumentException($"attribute 'axis' = {axis} is out of range for 'shape' [{string.Join(", ", shape)}] (rank {shape.Length})");
        _shape = shape;
        _layout = new MxPackedLayout(format, shape.Select(d => (int)d).ToArray(), (int)axis, bs);

        var elements = PackedInputs.TryConstant(info, 0, "elements");
        var scales = PackedInputs.TryConstant(info, 1, "scales");
        var micro = PackedInputs.TryConstant(info, 2, "micro");
        if (elements is { } e && scales is { } s && (micro is not null || _layout.MicroBytes == 0))
        {
            Check(e, s, micro);
            if (_layout.ElementCount > Array.MaxLength) throw new ArgumentException($"shape [{string.Join(", ", shape)}] is too large to decode into one array");
            _constant = new float[_layout.ElementCount];
            fixed (float* y = _constant)
                PackedRows.Dequantize(_layout, (byte*)e.Data, (byte*)s.Data, micro is { } m ? (byte*)m.Data : null, y, SerialRunner.Instance);
        }
    }

    public void Compute(KernelContext context)
    {
        var y = context.Output(0, _shape);
        if (_constant is not null)
        {
            _constant.CopyTo(y.AsSpan<float>());
            return;
        }
        var e = PackedBuffer.Of(context.Input(0), "input 0 (elements)");
        var s = PackedBuffer.Of(context.Input(1), "input 1 (scales)");
        var microInput = context.Input(2);
        PackedBuffer? m = microInput.IsPresent ? PackedBuffer.Of(microInput, "input 2 (micro)") : null;
        Check(e, s, m);
        PackedRows.Dequantize(_layout, (byte*)e.Data, (byte*)s.Data, m is { } mm ? (byte*)mm.Data : null, y.Pointer<float>(), context);
    }

    private void Check(PackedBuffer e, PackedBuffer s, PackedBuffer? m)
    {
        string dims = $"{_layout.Format.Name} shape [{string.Join(", ", _shape)}] axis {_layout.Axis} block_size {_layout.BlockSize}";
        e.Expect("input 0 (elements)", _layout.ElementBytes, $"[{_layout.Rows}, {_layout.RowBytes}] for {dims}");
        s.Expect("input 1 (scales)", _layout.ScaleBytes, $"[{_layout.Rows}, {_layout.BlocksPerRow}] for {dims}");
        if (_layout.MicroBytes > 0)
        {
            if (m is not { } mm) throw new ArgumentException($"input 2 (micro) is required for {_layout.Format.Name}");
            mm.Expect("input 2 (micro)", _layout.MicroBytes, $"[{_layout.Rows}, {_layout.BlocksPerRow * _layout.MicroBytesPerBlock}] for {dims}");
        }
        else if (m is { } extra && extra.Length > 0)
        {
            throw new ArgumentException($"input 2 (micro) is given ({extra.Length} bytes) but {_layout.Format.Name} has no micro-exponents");
        }
    }
}
