using Mx.Onnx;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Bench.MiniLm;

/// <summary>How far a quantized sentence encoder's embeddings moved: rel-L2 = √(Σ‖e_q − e‖² / Σ‖e‖²) over the samples, and the worst cosine.</summary>
/// <param name="RelL2">Relative L2 error of the embeddings.</param>
/// <param name="WorstCosine">The lowest cosine similarity between a sample's float32 and quantized embedding.</param>
public sealed record EmbeddingErrorResult(double RelL2, double WorstCosine);

/// <summary>
/// Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: the mean of the last hidden state
/// over the positions whose attention mask is 1.
/// </summary>
public static class EmbeddingError
{
    /// <summary>The mean-pooled embedding of every sample.</summary>
    public static List<double[]> Embeddings(OnnxModel model, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> samples)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var session = HostTensorSession.FromBytes(model.ToBytes());
        string output = session.Outputs[0].Name;
        var result = new List<double[]>();
        foreach (var sample in samples)
        {
            var feed = session.Inputs.ToDictionary(i => i.Name, i => sample[i.Name], StringComparer.Ordinal);
            var hidden = session.Run(feed, [output])[0];
            int positions = (int)hidden.Shape[1], width = (int)hidden.Shape[2];
            var mask = sample["attention_mask"].AsSpan<long>();
            var h = hidden.AsSpan<float>();
            var e = new double[width];
            int count = 0;
            for (int p = 0; p < positions; p++)
            {
                if (mask[p] == 0) continue;
                count++;
                for (int d = 0; d < width; d++) e[d] += h[p * width + d];
            }
            for (int d = 0; d < width; d++) e[d] /= Math.Max(1, count);
            result.Add(e);
        }
        return result;
    }

    /// <summary>The error of <paramref name="quantized"/>'s embeddings against <paramref name="reference"/>'s.</summary>
    public static EmbeddingErrorResult Compare(IReadOnlyList<double[]> reference, IReadOnlyList<double[]> quantized)
    {
        double se = 0, ss = 0, worst = 1;
        for (int s = 0; s < reference.Count; s++)
        {
            double dot = 0, a = 0, b = 0;
            for (int d = 0; d < reference[s].Length; d++)
            {
                double x = reference[s][d], y = quantized[s][d];
                se += (y - x) * (y - x);
                ss += x * x;
                dot += x * y;
                a += x * x;
                b += y * y;
            }
            worst = Math.Min(worst, dot / Math.Sqrt(a * b));
        }
        return new EmbeddingErrorResult(Math.Sqrt(se / ss), worst);
    }
}
