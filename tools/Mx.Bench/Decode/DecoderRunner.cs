using Microsoft.ML.OnnxRuntime;
using Mx.TestModels.Decoder;

namespace Mx.Bench.Decode;

/// <summary>
/// Runs a decoder with GenAI's I/O (<see cref="DecoderNames"/>) through one <see cref="InferenceSession"/>, batch 1:
/// <see cref="Run"/> appends tokens to the sequence (a prefill when the cache is empty, one decode step for one token),
/// feeding the previous run's present keys and values back as the past (ORT's own output buffers, no copies). The
/// logits of the last run stay readable until the next run.
/// </summary>
public sealed class DecoderRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly DecoderConfig _config;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames, _outputNames;
    private readonly OrtValue[] _emptyPast;
    private readonly long[] _mask;
    private IDisposableReadOnlyCollection<OrtValue>? _last;

    /// <summary>A runner for sequences of up to <paramref name="capacity"/> tokens (the session stays the caller's).</summary>
    public DecoderRunner(InferenceSession session, DecoderConfig config, int capacity)
    {
        _session = session;
        _config = config;
        _mask = Enumerable.Repeat(1L, capacity).ToArray();
        var inputs = new List<string> { DecoderNames.InputIds, DecoderNames.AttentionMask, DecoderNames.PositionIds };
        var outputs = new List<string> { DecoderNames.Logits };
        for (int i = 0; i < config.Layers; i++)
        {
            inputs.AddRange([DecoderNames.PastKey(i), DecoderNames.PastValue(i)]);
            outputs.AddRange([DecoderNames.PresentKey(i), DecoderNames.PresentValue(i)]);
        }
        _inputNames = [.. inputs];
        _outputNames = [.. outputs];
        _emptyPast = new OrtValue[2 * config.Layers];
        for (int i = 0; i < _emptyPast.Length; i++)
            _emptyPast[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [1, config.KvHeads, 0, config.HeadDim]);
    }

    /// <summary>Tokens in the cache.</summary>
    public int Length { get; private set; }

    /// <summary>Tokens the runner accepts in all.</summary>
    public int Capacity => _mask.Length;

    /// <summary>The logits of the last run, [new tokens, vocab] row-major; valid until the next <see cref="Run"/> or <see cref="Reset"/>.</summary>
    public ReadOnlySpan<float> Logits => _last is null ? [] : _last[0].GetTensorDataAsSpan<float>();

    /// <summary>Runs <paramref name="tokens"/> after the cached ones and keeps their keys and values.</summary>
    /// <exception cref="ArgumentException">No tokens, or more than the capacity left.</exception>
    public void Run(ReadOnlySpan<long> tokens)
    {
        var outputs = RunWith(tokens, _outputNames);
        _last?.Dispose();
        _last = outputs;
        Length += tokens.Length;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> after the cached ones and returns copies of the outputs (or internal values)
    /// named <paramref name="outputs"/>; the cache is left as it was.
    /// </summary>
    public float[][] RunCollecting(ReadOnlySpan<long> tokens, IReadOnlyList<string> outputs)
    {
        using var values = RunWith(tokens, outputs);
        return values.Select(v => v.GetTensorDataAsSpan<float>().ToArray()).ToArray();
    }

    private IDisposableReadOnlyCollection<OrtValue> RunWith(ReadOnlySpan<long> tokens, IReadOnlyList<string> outputNames)
    {
        if (tokens.IsEmpty || Length + tokens.Length > Capacity)
            throw new ArgumentException($"{tokens.Length} tokens after {Length} exceed the runner's capacity of {Capacity}");
        int s = tokens.Length, total = Length + s;
        var positions = new long[s];
        for (int i = 0; i < s; i++) positions[i] = Length + i;
        using var idsValue = OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [1, s]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _mask.AsMemory(0, total), [1, total]);
        using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [1, s]);
        var inputs = new OrtValue[_inputNames.Length];
        inputs[0] = idsValue;
        inputs[1] = maskValue;
        inputs[2] = positionValue;
        for (int i = 0; i < 2 * _config.Layers; i++) inputs[3 + i] = _last is null ? _emptyPast[i] : _last[1 + i];
        return _session.Run(_runOptions, _inputNames, inputs, outputNames);
    }

    /// <summary>The index of the largest logit of new position <paramref name="row"/> of the last run (the first on ties).</summary>
    public int ArgMax(int row)
    {
        var r = Logits.Slice(row * _config.Vocab, _config.Vocab);
        int best = 0;
        for (int i = 1; i < r.Length; i++)
            if (r[i] > r[best]) best = i;
        return best;
    }

    /// <summary>Empties the cache.</summary>
    public void Reset()
    {
        _last?.Dispose();
        _last = null;
        Length = 0;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Reset();
        foreach (var v in _emptyPast) v.Dispose();
        _runOptions.Dispose();
    }
}
