using Mx.Runtime.Cuda;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels;
using Mx.Runtime.Kernels.Sparse;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// <c>mx.onnx.MxMatMul</c> (docs/ops.md): <c>Y = alpha · (A · W) + beta · bias</c> with W packed along K. The packed
/// weight is ORT's own copy of the initializers, wrapped in place, so a session holds the packed bytes once.
/// </summary>
public static class MxMatMulOp
{
    /// <summary>The node op_type.</summary>
    public const string Name = "MxMatMul";

    /// <summary>The op definition (inputs A, W_elements, W_scales, bias?, W_micro?, W_mask?; output Y).</summary>
    public static CustomOpDefinition Definition { get; } = Create(MxOpsDevice.Cpu);

    /// <summary>A new definition (an op joins one domain) whose kernels run on <paramref name="device"/> where they can.</summary>
    internal static CustomOpDefinition Create(MxOpsDevice device) => new(Name,
        [
            new(TensorElementType.Float),
            new(TensorElementType.UInt8),
            new(TensorElementType.UInt8),
            new(TensorElementType.Float, CustomOpArity.Optional),
            new(TensorElementType.UInt8, CustomOpArity.Optional),
            new(TensorElementType.UInt8, CustomOpArity.Optional),
        ],
        [new(TensorElementType.Float)],
        info => new MxMatMulNodeKernel(info, device));
}

/// <summary>
/// One MxMatMul node: validated attributes and the packed GEMM kernel over the node's initializers, or, registered for
/// <see cref="MxOpsDevice.Cuda"/>, the weight uploaded to the GPU once (docs/cuda.md). Immutable.
/// </summary>
internal sealed unsafe class MxMatMulNodeKernel : ICustomKernel, IDisposable
{
    private readonly MxMatMulKernel? _kernel;
    private readonly MxKMajorKernel? _sparse;   // layout = "kmajor"
    private readonly CudaMxMatMul? _gpu;   // weight-only nodes in a format the CUDA kernels run, when registered for CUDA
    private readonly float _alpha;
    private readonly float _beta;
    private readonly int _k;
    private readonly int _n;

    public MxMatMulNodeKernel(KernelInfo info, MxOpsDevice device)
    {
        MxFormat format = MxOpAttributes.Format(info);
        // The GEMM kernels read one micro-exponent byte per block, so MX9/MX6/MX4 weights use blocks of 16.
        int bs = MxOpAttributes.BlockSize(info, format, maxSharedMicro: 16);
        _k = MxOpAttributes.PositiveInt(info, "K");
        _n = MxOpAttributes.PositiveInt(info, "N");
        _alpha = info.GetFloat("alpha", 1f);
        _beta = info.GetFloat("beta", 1f);
        var mode = info.GetString("act_format", "") switch
        {
            "" => MxGemmMode.WeightOnly,
            "mxint8" => MxGemmMode.MxMx,
            var s => throw new ArgumentException($"attribute 'act_format' = '{s}' is not supported; use \"\" (weight-only) or \"mxint8\""),
        };

        string storage = info.GetString("layout", "");
        float threshold = info.GetFloat("sparse_threshold", 0f);
        if (!(threshold >= 0) || float.IsInfinity(threshold))
            throw new ArgumentException($"attribute 'sparse_threshold' = {threshold} must be a finite number ≥ 0");
        if (storage == "kmajor")
        {
            _sparse = CreateKMajor(info, format, bs, mode, threshold);
            return;
        }
        if (storage is not ("" or "rowmajor"))
            throw new ArgumentException($"attribute 'layout' = '{storage}' is not supported; use \"rowmajor\" (the default) or \"kmajor\"");
        if (threshold != 0) throw new ArgumentException("attribute 'sparse_threshold' needs layout = \"kmajor\" (the K-major kernels are the ones that skip blocks)");
        if (PackedInputs.TryConstant(info, 5, "W_mask") is { } strayMask)
            throw new ArgumentException($"input 5 (W_mask) is given ({strayMask.Length} bytes) but only layout = \"kmajor\" has a tile mask");

        var layout = new MxPackedLayout(format, [_n, _k], 1, bs);
        string dims = $"{format.Name} N = {_n}, K = {_k}, block_size = {bs}";
        var elements = PackedInputs.RequireConstant(info, 1, "W_elements", MxMatMulOp.Name);
        elements.Expect("input 1 (W_elements)", layout.ElementBytes, $"[N, {layout.RowBytes}] for {dims}");
        var scales = PackedInputs.RequireConstant(info, 2, "W_scales", MxMatMulOp.Name);
        scales.Expect("input 2 (W_scales)", layout.ScaleBytes, $"[N, {layout.BlocksPerRow}] for {dims}");
        PackedBuffer micro = default;
        if (format.Kind == MxElementKind.SharedMicroExponent)
        {
            micro = PackedInputs.RequireConstant(info, 4, "W_micro", MxMatMulOp.Name);
            micro.Expect("input 4 (W_micro)", layout.MicroBytes, $"[N, {layout.BlocksPerRow}] for {dims}");
        }
        else if (PackedInputs.TryConstant(info, 4, "W_micro") is { } extra)
        {
            throw new ArgumentException($"input 4 (W_micro) is given ({extra.Length} bytes) but {format.Name} has no micro-exponents");
        }
        var weight = MxPackedWeight.FromPointers(format, _n, _k, bs, elements.Data, elements.Length, scales.Data, scales.Length, micro.Data, micro.Length);
        _kernel = new MxMatMulKernel(weight, mode);
        // MX activations and the shared-microexponent formats stay on the CPU kernel (the CUDA kernels have neither).
        if (device == MxOpsDevice.Cuda && mode == MxGemmMode.WeightOnly && CudaKernelVariant.Supports(format))
            _gpu = CudaMxMatMul.Create(CudaBackend.Open(), format, bs, _k, _n, (byte*)elements.Data, elements.Length, (byte*)scales.Data, scales.Length, null);
    }

    // A K-major weight (docs/packed-layout.md): elements [nb, T·16·BlockBytes] (or the stored tiles with W_mask),
    // scales [nb, T·16]; the CPU K-major kernels skip zero activation blocks.
    private MxKMajorKernel CreateKMajor(KernelInfo info, MxFormat format, int bs, MxGemmMode mode, float threshold)
    {
        if (!MxKMajorLayout.Supports(format, bs, out string? why)) throw new ArgumentException($"attribute 'layout' = \"kmajor\": {why}");
        var layout = new MxKMajorLayout(format, _n, _k, bs);
        var elements = PackedInputs.RequireConstant(info, 1, "W_elements", MxMatMulOp.Name);
        var scales = PackedInputs.RequireConstant(info, 2, "W_scales", MxMatMulOp.Name);
        if (PackedInputs.TryConstant(info, 4, "W_micro") is { } micro)
            throw new ArgumentException($"input 4 (W_micro) is given ({micro.Length} bytes) but {format.Name} has no micro-exponents");
        PackedBuffer mask = PackedInputs.TryConstant(info, 5, "W_mask") ?? default;
        MxKMajorWeight weight;
        try
        {
            weight = MxKMajorWeight.FromPointers(layout, elements.Data, elements.Length, scales.Data, scales.Length, mask.Data, mask.Length);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"K-major inputs do not fit {layout} (W_elements {elements.Shape}, W_scales {scales.Shape}{(mask.Length > 0 ? $", W_mask {mask.Shape}" : "")}): {ex.Message}", ex);
        }
        return new MxKMajorKernel(weight, mode, threshold);
    }

    /// <summary>Whether this node runs its product on the GPU.</summary>
    public bool OnGpu => _gpu is not null;

    public void Compute(KernelContext context)
    {
        var a = context.Input(0);
        long[] shape = a.Shape;
        if (shape.Length == 0 || shape[^1] != _k)
            throw new ArgumentException($"input A has shape [{string.Join(", ", shape)}]; its last dimension must be K = {_k}");
        long m = a.ElementCount / _k;
        if (m > int.MaxValue) throw new ArgumentException($"input A has shape [{string.Join(", ", shape)}]: {m} rows are too many for one call");
        var bias = context.Input(3);
        if (bias.IsPresent && bias.ElementCount != _n)
            throw new ArgumentException($"input bias has shape [{string.Join(", ", bias.Shape)}]; it must hold N = {_n} values ([N] or [1, N])");

        Span<long> outShape = stackalloc long[shape.Length];
        shape.CopyTo(outShape);
        outShape[^1] = _n;
        var y = context.Output(0, outShape);
        if (m == 0) return;

        float* pa = a.Pointer<float>(), py = y.Pointer<float>();
        float* pb = bias.IsPresent ? bias.Pointer<float>() : null;
        // The kernel adds an unscaled bias itself; other alpha/beta need one extra pass over Y.
        if (_gpu is not null)
        {
            // Host in, host out: ORT runs this op on its CPU provider, the product itself runs on the GPU.
            _gpu.Run(pa, (int)m, py);
            if (_alpha != 1f || pb != null) ScaleAndAddBias(py, m, pb);
            return;
        }
        bool plain = _alpha == 1f && (pb == null || _beta == 1f);
        if (_sparse is not null) _sparse.Run(pa, (int)m, plain ? pb : null, py, context);
        else _kernel!.Run(pa, (int)m, plain ? pb : null, py, context);
        if (!plain) ScaleAndAddBias(py, m, pb);
    }

    /// <summary>Frees the GPU copy of the weight (ORT destroys kernels with their session).</summary>
    public void Dispose() => _gpu?.Dispose();

    private void ScaleAndAddBias(float* y, long m, float* bias)
    {
        for (long r = 0; r < m; r++)
        {
            var row = new Span<float>(y + r * _n, _n);
            if (_alpha != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, _alpha, row);
            if (bias != null)
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(bias, _n), _beta, row, row);
        }
    }
}
