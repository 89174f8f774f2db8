using Mx.Runtime;

namespace Mx.Onnx.Reports;

/// <summary>
/// Accumulates the error of one output over samples: add each sample's reference and candidate tensors with
/// <see cref="Add"/>, then read <see cref="Result"/>. Sums are kept in double.
/// </summary>
public sealed class OutputErrorAccumulator(string name)
{
    private double _sse, _ssRef, _ssCand, _dot, _maxAbs, _klSum;
    private long _values, _positions, _agree;
    private int _samples;
    private long[]? _shape;
    private TensorElementType _type;
    private bool _classScores;

    /// <summary>The output's name (used in messages).</summary>
    public string Name { get; } = name;

    /// <summary>Adds one sample.</summary>
    /// <exception cref="InvalidDataException">The tensors differ in shape or type, or cannot be read as numbers; the message names the output.</exception>
    public void Add(HostTensor reference, HostTensor candidate)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidate);
        if (!reference.Shape.AsSpan().SequenceEqual(candidate.Shape))
            throw new InvalidDataException($"output '{Name}': reference shape [{string.Join(", ", reference.Shape)}] but candidate shape [{string.Join(", ", candidate.Shape)}]");
        if (reference.ElementType != candidate.ElementType)
            throw new InvalidDataException($"output '{Name}': reference is {reference.ElementType.OnnxName()} but candidate is {candidate.ElementType.OnnxName()}");
        float[] r, c;
        try
        {
            r = reference.ToFloatArray();
            c = candidate.ToFloatArray();
        }
        catch (NotSupportedException ex)
        {
            throw new InvalidDataException($"output '{Name}': {ex.Message}", ex);
        }
        if (_shape is null)
        {
            _shape = reference.Shape;
            _type = reference.ElementType;
            _classScores = OutputComparison.LooksLikeClassScores(_type, _shape);
        }
        _samples++;
        _values += r.LongLength;
        for (long i = 0; i < r.LongLength; i++)
        {
            double x = r[i], y = c[i], d = y - x;
            _sse += d * d;
            _ssRef += x * x;
            _ssCand += y * y;
            _dot += x * y;
            double ad = Math.Abs(d);
            _maxAbs = double.IsNaN(ad) || double.IsNaN(_maxAbs) ? double.NaN : Math.Max(_maxAbs, ad);
        }
        if (_classScores && OutputComparison.LooksLikeClassScores(reference.ElementType, reference.Shape))
        {
            int classes = checked((int)reference.Shape[^1]);
            for (long p = 0; p + classes <= r.LongLength; p += classes)
            {
                var rs = r.AsSpan((int)p, classes);
                var cs = c.AsSpan((int)p, classes);
                _positions++;
                if (ArgMax(rs) == ArgMax(cs)) _agree++;
                _klSum += Kl(rs, cs);
            }
        }
    }

    /// <summary>The metrics so far.</summary>
    /// <exception cref="InvalidOperationException">No sample was added.</exception>
    public OutputComparison Result()
    {
        if (_shape is null) throw new InvalidOperationException($"output '{Name}': no samples were compared");
        double rel = _ssRef == 0 ? (_sse == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(_sse / _ssRef);
        double cosine = _ssRef == 0 && _ssCand == 0 ? 1 : _ssRef == 0 || _ssCand == 0 ? 0 : _dot / (Math.Sqrt(_ssRef) * Math.Sqrt(_ssCand));
        bool cls = _classScores && _positions > 0;
        return new OutputComparison(Name, _type, _shape, _samples, _values, _maxAbs, rel, cosine, cls, cls ? _positions : 0,
            cls ? (double)_agree / _positions : null, cls ? _klSum / _positions : null);
    }

    /// <summary>Index of the first maximum (NaN never wins; all-NaN gives 0).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best] || float.IsNaN(values[best]) && !float.IsNaN(values[i])) best = i;
        return best;
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) in nats, with log-softmax computed stably in double.</summary>
    public static double Kl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double lp = LogSumExp(p), lq = LogSumExp(q), kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double logP = p[i] - lp, logQ = q[i] - lq;
            double pi = Math.Exp(logP);
            if (pi > 0) kl += pi * (logP - logQ);
        }
        return Math.Max(0, kl);
    }

    private static double LogSumExp(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        if (double.IsInfinity(max) || double.IsNaN(max)) return max;
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
