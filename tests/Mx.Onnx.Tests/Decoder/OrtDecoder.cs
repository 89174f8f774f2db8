using Microsoft.ML.OnnxRuntime;
using Mx.TestModels.Decoder;

namespace Mx.Onnx.Tests.Decoder;

/// <summary>
/// Test-side driver of a decoder session, batch 1: each <see cref="Run"/> feeds the new tokens with the cached keys and
/// values of the previous runs (copied into fresh tensors, to keep this side simple) and returns the logits.
/// </summary>
internal sealed class OrtDecoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly DecoderConfig _c;
    private float[][] _past;

    public OrtDecoder(string model, DecoderConfig config)
    {
        _session = new InferenceSession(model, new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR });
        _c = config;
        _past = new float[2 * config.Layers][];
        Reset();
    }

    public int CachedLength { get; private set; }

    /// <summary>Each output's shape in the last run.</summary>
    public Dictionary<string, long[]> LastShapes { get; } = [];

    public void Reset()
    {
        for (int i = 0; i < _past.Length; i++) _past[i] = [];
        CachedLength = 0;
    }

    /// <summary>Logits [tokens.Length, vocab] of the new tokens.</summary>
    public float[] Run(long[] tokens)
    {
        int s = tokens.Length, total = CachedLength + s;
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [1, s]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, total).ToArray(), [1, total]),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Range(CachedLength, s).Select(p => (long)p).ToArray(), [1, s]),
        };
        foreach (var past in _past)
            values.Add(OrtValue.CreateTensorValueFromMemory(past, [1, _c.KvHeads, CachedLength, _c.HeadDim]));
        try
        {
            using var outputs = _session.Run(new RunOptions(), _session.InputNames, values, _session.OutputNames);
            LastShapes.Clear();
            for (int i = 0; i < outputs.Count; i++) LastShapes[_session.OutputNames[i]] = outputs[i].GetTensorTypeAndShape().Shape;
            for (int i = 0; i < _past.Length; i++) _past[i] = outputs[1 + i].GetTensorDataAsSpan<float>().ToArray();
            CachedLength = total;
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
