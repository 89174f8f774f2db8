using Mx.Runtime;

namespace Mx.Calibration.Capture;

/// <summary>
/// The rows one captured value gives a layer input: rows along the reduction axis (MatMul/Gemm), or im2col rows of a
/// Conv input (one per batch item and output position, the groups side by side). Rows are numbered in the value's
/// row-major order of the non-reduction positions, so for a [batch, sequence, K] activation row b·S + s is position
/// (b, s) — the order an attention mask [batch, sequence] has.
/// </summary>
public sealed class LayerRows
{
    private readonly LayerInput _input;
    private readonly HostTensor _value;
    private readonly long _inner;
    private readonly int[] _output = [];
    private readonly int[] _padBegin = [];
    private readonly long _positions;

    private LayerRows(LayerInput input, HostTensor value, long count, long inner, int[] output, int[] padBegin, long positions)
    {
        _input = input;
        _value = value;
        Count = count;
        _inner = inner;
        _output = output;
        _padBegin = padBegin;
        _positions = positions;
    }

    /// <summary>Rows available.</summary>
    public long Count { get; }

    /// <summary>The rows of <paramref name="value"/> read by <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">The value is not float32 or its shape does not fit the layer; the message names it.</exception>
    public static LayerRows Of(LayerInput input, HostTensor value)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(value);
        string shape = $"[{string.Join(", ", value.Shape)}]";
        if (value.ElementType != TensorElementType.Float) throw new ArgumentException($"'{input.Activation}' is {value.ElementType.OnnxName()}, not float32");
        var s = value.Shape;
        if (input.Kind == LayerInputKind.Rows)
        {
            int a = input.Axis < 0 ? input.Axis + s.Length : input.Axis;
            if (a < 0 || a >= s.Length || s[a] != input.K)
                throw new ArgumentException($"'{input.Activation}' of shape {shape} has no axis {input.Axis} of {input.K} values (the weight's reduction length)");
            long outer = 1, inner = 1;
            for (int i = 0; i < a; i++) outer *= s[i];
            for (int i = a + 1; i < s.Length; i++) inner *= s[i];
            return new LayerRows(input, value, outer * inner, inner, [], [], 0);
        }
        if (input.Kind != LayerInputKind.Im2Col) throw new ArgumentException($"'{input.Activation}' is a lookup; it has no rows");
        var conv = input.Conv!;
        if (s.Length != conv.SpatialRank + 2 || s[1] != (long)input.K / conv.KernelSize * input.Groups)
            throw new ArgumentException($"'{input.Activation}' of shape {shape} does not fit a Conv of {input.Groups} group(s) × {input.K / conv.KernelSize} channels and a {conv.SpatialRank}-D kernel");
        var (output, begin) = conv.Resolve(s.AsSpan(2));
        long positions = output.Aggregate(1L, (x, y) => x * y);
        return new LayerRows(input, value, s[0] * positions, 1, output, begin, positions);
    }

    /// <summary>Writes row <paramref name="r"/> (<see cref="LayerInput.Width"/> values) into <paramref name="row"/>.</summary>
    public void Write(long r, Span<float> row)
    {
        var x = _value.AsSpan<float>();
        if (_input.Kind == LayerInputKind.Rows)
        {
            long o = r / _inner, i = r % _inner, k = _input.K;
            long start = o * k * _inner + i;
            for (int j = 0; j < k; j++) row[j] = x[(int)(start + j * _inner)];
            return;
        }
        int batch = (int)(r / _positions);
        long position = r % _positions;
        for (int g = 0; g < _input.Groups; g++)
            _input.Conv!.Row(x, _value.Shape, _output, _padBegin, batch, position, g, row.Slice(g * _input.K, _input.K));
    }
}
