using Mx.Runtime.Formats;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// <c>mx.onnx.MxGather</c> (docs/ops.md): embedding lookup in a table <c>[V, D]</c> packed along D. Only the rows
/// looked up are dequantized; the table is read where ORT keeps it.
/// </summary>
public static class MxGatherOp
{
    /// <summary>The node op_type.</summary>
    public const string Name = "MxGather";

    /// <summary>The op definition (inputs table_elements, table_scales, indices, table_micro?; output float32).</summary>
    public static CustomOpDefinition Definition { get; } = Create();

    /// <summary>A new, equal definition, for another domain instance (an op joins one domain).</summary>
    internal static CustomOpDefinition Create() => new(Name,
        [
            new(TensorElementType.UInt8),
            new(TensorElementType.UInt8),
            new(TensorElementType.Int64),
            new(TensorElementType.UInt8, CustomOpArity.Optional),
        ],
        [new(TensorElementType.Float)],
        info => new MxGatherNodeKernel(info));
}

/// <summary>One MxGather node. Immutable after creation.</summary>
internal sealed unsafe class MxGatherNodeKernel : ICustomKernel
{
    private const int RowsPerTask = 16;
    private readonly MxPackedLayout _row;   // the layout of one embedding row [1, D]
    private readonly int _d;

    public MxGatherNodeKernel(KernelInfo info)
    {
        MxFormat format = MxOpAttributes.Format(info);
        int bs = MxOpAttributes.BlockSize(info, format);
        _d = MxOpAttributes.PositiveInt(info, "D");
        _row = new MxPackedLayout(format, [1, _d], 1, bs);
        // A constant table is checked here, so a bad model fails at session creation rather than at the first Run.
        if (PackedInputs.TryConstant(info, 0, "table_elements") is { } e)
        {
            var s = PackedInputs.TryConstant(info, 1, "table_scales");
            var m = PackedInputs.TryConstant(info, 3, "table_micro");
            Rows(e, s ?? new PackedBuffer(0, -1, "(computed)"), m, checkScales: s is not null);
        }
    }

    public void Compute(KernelContext context)
    {
        var elements = PackedBuffer.Of(context.Input(0), "input 0 (table_elements)");
        var scales = PackedBuffer.Of(context.Input(1), "input 1 (table_scales)");
        var microInput = context.Input(3);
        PackedBuffer? micro = microInput.IsPresent ? PackedBuffer.Of(microInput, "input 3 (table_micro)") : null;
        long v = Rows(elements, scales, micro, checkScales: true);

        var indices = context.Input(2);
        long count = indices.ElementCount;
        long* idx = indices.Pointer<long>();
        for (long i = 0; i < count; i++)   // all checked before any work, so an error leaves nothing half-done
            if (idx[i] < -v || idx[i] >= v)
                throw new ArgumentException($"index {idx[i]} (element {i} of indices [{string.Join(", ", indices.Shape)}]) is out of range for a table of V = {v} rows; valid: [{-v}, {v})");

        long[] shape = [.. indices.Shape, _d];
        var y = context.Output(0, shape);
        if (count == 0) return;
        float* py = y.Pointer<float>();
        byte* pe = (byte*)elements.Data, ps = (byte*)scales.Data, pm = micro is { } mm ? (byte*)mm.Data : null;
        MxPackedLayout row = _row;
        int d = _d;
        long microRow = PackedInputs.MicroRowBytes(row);
        int tasks = (int)Math.Min(int.MaxValue, (count + RowsPerTask - 1) / RowsPerTask);
        context.For(tasks, t =>
        {
            for (long i = (long)t * RowsPerTask; i < Math.Min(count, ((long)t + 1) * RowsPerTask); i++)
            {
                long r = idx[i] < 0 ? idx[i] + v : idx[i];
                MxRowCodec.Dequantize(row.Format,
                    new ReadOnlySpan<byte>(pe + r * row.RowBytes, row.RowBytes),
                    new ReadOnlySpan<byte>(ps + r * row.BlocksPerRow, row.BlocksPerRow),
                    pm == null ? default : new ReadOnlySpan<byte>(pm + r * microRow, (int)microRow),
                    row.BlockSize, new Span<float>(py + i * d, d));
            }
        });
    }

    /// <summary>V, the table's row count, after checking that the buffers agree with D and the format.</summary>
    private long Rows(PackedBuffer elements, PackedBuffer scales, PackedBuffer? micro, bool checkScales)
    {
        string dims = $"{_row.Format.Name} D = {_d}, block_size = {_row.BlockSize}";
        if (elements.Length % _row.RowBytes != 0)
            throw new ArgumentException($"input 0 (table_elements) has {elements.Length} bytes (shape {elements.Shape}), not a whole number of {_row.RowBytes}-byte rows for {dims}");
        long v = elements.Length / _row.RowBytes;
        if (checkScales) scales.Expect("input 1 (table_scales)", v * _row.BlocksPerRow, $"[V = {v}, {_row.BlocksPerRow}] for {dims}");
        long microRow = PackedInputs.MicroRowBytes(_row);
        if (microRow > 0)
        {
            if (micro is not { } m) throw new ArgumentException($"input 3 (table_micro) is required for {_row.Format.Name}");
            m.Expect("input 3 (table_micro)", v * microRow, $"[V = {v}, {microRow}] for {dims}");
        }
        else if (micro is { } m)
        {
            throw new ArgumentException($"input 3 (table_micro) is given ({m.Length} bytes) but {_row.Format.Name} has no micro-exponents");
        }
        return v;
    }
}
