using Mx.TestModels.Decoder;

namespace Mx.Onnx.Tests.Decoder;

/// <summary>
/// A plain scalar implementation of the generated decoder's mathematics, in double, written from the Llama
/// definition rather than from the graph: the independent reference the ONNX Runtime runs are checked against.
/// Weights come from <see cref="DecoderWeights"/> (materialised; small configurations only).
/// </summary>
internal sealed class ReferenceDecoder
{
    private readonly DecoderConfig _c;
    private readonly Dictionary<string, float[]> _w;

    public ReferenceDecoder(DecoderConfig config)
    {
        _c = config;
        _w = DecoderWeights.All(config, DecoderAttention.OnnxOps).ToDictionary(t => t.Name, t =>
        {
            var values = new float[t.Count];
            t.Fill(0, values);
            return values;
        });
    }

    /// <summary>Logits [tokens, vocab] of the whole sequence from position 0, and the RMS of the residual stream after each layer.</summary>
    public (double[][] Logits, double[] LayerRms) Forward(IReadOnlyList<long> tokens)
    {
        int s = tokens.Count, hidden = _c.Hidden, d = _c.HeadDim;
        var x = tokens.Select(t => Enumerable.Range(0, hidden).Select(i => (double)_w["embed_tokens.weight"][t * hidden + i]).ToArray()).ToArray();
        var layerRms = new double[_c.Layers];
        for (int l = 0; l < _c.Layers; l++)
        {
            string p = $"layers.{l}.";
            var h = x.Select(r => Norm(r, p + "input_layernorm.weight")).ToArray();
            var q = h.Select((r, pos) => Rotate(MatVec(r, p + "attn.q_proj.weight", hidden), pos)).ToArray();
            var k = h.Select((r, pos) => Rotate(MatVec(r, p + "attn.k_proj.weight", _c.KvWidth), pos)).ToArray();
            var v = h.Select(r => MatVec(r, p + "attn.v_proj.weight", _c.KvWidth)).ToArray();
            for (int i = 0; i < s; i++)
            {
                var attended = new double[hidden];
                for (int head = 0; head < _c.Heads; head++)
                {
                    int kvHead = head / _c.Group;
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < d; e++) dot += q[i][head * d + e] * k[j][kvHead * d + e];
                        scores[j] = dot / Math.Sqrt(d);
                    }
                    double max = scores.Max(), sum = scores.Sum(sc => Math.Exp(sc - max));
                    for (int j = 0; j <= i; j++)
                    {
                        double weight = Math.Exp(scores[j] - max) / sum;
                        for (int e = 0; e < d; e++) attended[head * d + e] += weight * v[j][kvHead * d + e];
                    }
                }
                var o = MatVec(attended, p + "attn.o_proj.weight", hidden);
                for (int e = 0; e < hidden; e++) x[i][e] += o[e];
            }
            for (int i = 0; i < s; i++)
            {
                var n = Norm(x[i], p + "post_attention_layernorm.weight");
                var gate = MatVec(n, p + "mlp.gate_proj.weight", _c.Intermediate);
                var up = MatVec(n, p + "mlp.up_proj.weight", _c.Intermediate);
                var m = gate.Select((g, e) => g / (1 + Math.Exp(-g)) * up[e]).ToArray();
                var down = MatVec(m, p + "mlp.down_proj.weight", hidden);
                for (int e = 0; e < hidden; e++) x[i][e] += down[e];
            }
            layerRms[l] = Math.Sqrt(x.Sum(r => r.Sum(e => e * e)) / (s * hidden));
        }
        return (x.Select(r => MatVec(Norm(r, "norm.weight"), "lm_head.weight", _c.Vocab)).ToArray(), layerRms);
    }

    private double[] Norm(double[] x, string weight)
    {
        double rms = Math.Sqrt(x.Sum(e => e * e) / x.Length + _c.RmsEpsilon);
        var w = _w[weight];
        return x.Select((e, i) => e / rms * w[i]).ToArray();
    }

    // y = x · W with W [x.Length, n] row-major (a MatMul's B).
    private double[] MatVec(double[] x, string weight, int n)
    {
        var w = _w[weight];
        var y = new double[n];
        for (int k = 0; k < x.Length; k++)
            for (int j = 0; j < n; j++) y[j] += x[k] * w[k * n + j];
        return y;
    }

    // Rotary embedding of every head at position pos: pairs (i, i + d/2) rotate by pos · θ^(−2i/d).
    private double[] Rotate(double[] x, int pos)
    {
        int d = _c.HeadDim, half = d / 2;
        var y = (double[])x.Clone();
        for (int h = 0; h < x.Length / d; h++)
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(_c.RopeTheta, -2.0 * i / d), a = x[h * d + i], b = x[h * d + i + half];
                y[h * d + i] = a * Math.Cos(angle) - b * Math.Sin(angle);
                y[h * d + i + half] = b * Math.Cos(angle) + a * Math.Sin(angle);
            }
        return y;
    }
}
