using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.TestModels.Decoder;

namespace Mx.Bench.Decode;

/// <summary>
/// Checks that activations keep their size through the layers: runs a prompt through a copy of the decoder's graph
/// that also outputs the residual stream after every layer (<see cref="DecoderNames.LayerOutput"/>), and reports the
/// RMS of each, and of the logits.
/// </summary>
public static class ActivationProbe
{
    /// <summary>RMS of the residual stream after each layer, then of the logits, over a <paramref name="tokens"/>-token prompt.</summary>
    public static (double[] Layers, double Logits) Run(string modelPath, DecoderConfig config, IReadOnlyList<long> prompt, int threads)
    {
        string probe = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, $".probe-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var model = OnnxModel.Load(modelPath))
            {
                // float32 of unknown shape (a ValueInfo with no shape at all, not a scalar).
                for (int i = 0; i < config.Layers; i++)
                    model.Proto.Graph.Output.Add(new ValueInfoProto
                    {
                        Name = DecoderNames.LayerOutput(i),
                        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } },
                    });
                using var file = File.Create(probe);
                model.Proto.WriteTo(file);
            }
            using var options = Mx.Runtime.Ort.HostTensorSession.CreateOptions(threads);
            using var session = new InferenceSession(probe, options);
            using var runner = new DecoderRunner(session, config, prompt.Count);
            var names = Enumerable.Range(0, config.Layers).Select(DecoderNames.LayerOutput).Append(DecoderNames.Logits).ToArray();
            var rms = runner.RunCollecting(prompt.ToArray(), names).Select(Rms).ToArray();
            return (rms[..^1], rms[^1]);
        }
        finally
        {
            File.Delete(probe);
        }
    }

    private static double Rms(float[] values)
    {
        double sum = 0;
        foreach (float v in values) sum += (double)v * v;
        return Math.Sqrt(sum / Math.Max(1, values.Length));
    }
}
