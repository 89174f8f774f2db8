namespace Mx.TestModels.Decoder;

/// <summary>
/// One float32 initializer of the generated decoder: its name, shape, and a function that computes any run of its
/// row-major values from their position alone (so a writer can produce a 4 GB model in parallel chunks, in bounded
/// memory, and get the same bytes however it splits the work).
/// </summary>
/// <param name="Name">The initializer's name.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Fill">Writes the values at flat indices [start, start + values.Length).</param>
public sealed record DecoderTensor(string Name, long[] Shape, Action<long, Span<float>> Fill)
{
    /// <summary>Number of values.</summary>
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The decoder's weights, seeded random at the scales of a trained model, so activations keep their size through the
/// layers (pre-norm residual stream, checked by the tests and `mx bench decode`):
/// <list type="bullet">
/// <item>every projection (MatMul weight [K, N]) is near-Gaussian with σ = 1/√K, so it keeps the RMS of its input
/// (unit gain; trained TinyLlama projections have σ ≈ 0.02 = 1/√2048 too);</item>
/// <item>the embedding has σ = 0.02 (the usual initialisation; the first layer's output soon dominates the stream);</item>
/// <item>RMSNorm weights are 1 ± 0.1 (uniform);</item>
/// <item>the rotary tables are exact: cos/sin(p · θ^(−2i/d)).</item>
/// </list>
/// Near-Gaussian = the sum of four uniforms (Irwin–Hall), from <see cref="SplitMix64.At"/> bits only: no transcendental
/// functions, so the weights are the same bits on every platform (the rotary tables use Math.Cos/Sin, whose last bit
/// may differ between platforms).
/// </summary>
public static class DecoderWeights
{
    /// <summary>σ of the token embedding.</summary>
    public const float EmbeddingSigma = 0.02f;

    /// <summary>
    /// The initializers in file order: embedding, each layer's norms and projections, final norm, LM head, and the
    /// rotary tables <paramref name="attention"/> reads.
    /// </summary>
    public static IReadOnlyList<DecoderTensor> All(DecoderConfig c, DecoderAttention attention)
    {
        var list = new List<DecoderTensor> { Gaussian(c, 0, "embed_tokens.weight", [c.Vocab, c.Hidden], EmbeddingSigma) };
        ulong id = 1;
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"layers.{i}.";
            list.Add(Norm(c, id++, p + "input_layernorm.weight", c.Hidden));
            list.Add(Projection(c, id++, p + "attn.q_proj.weight", c.Hidden, c.Hidden));
            list.Add(Projection(c, id++, p + "attn.k_proj.weight", c.Hidden, c.KvWidth));
            list.Add(Projection(c, id++, p + "attn.v_proj.weight", c.Hidden, c.KvWidth));
            list.Add(Projection(c, id++, p + "attn.o_proj.weight", c.Hidden, c.Hidden));
            list.Add(Norm(c, id++, p + "post_attention_layernorm.weight", c.Hidden));
            list.Add(Projection(c, id++, p + "mlp.gate_proj.weight", c.Hidden, c.Intermediate));
            list.Add(Projection(c, id++, p + "mlp.up_proj.weight", c.Hidden, c.Intermediate));
            list.Add(Projection(c, id++, p + "mlp.down_proj.weight", c.Intermediate, c.Hidden));
        }
        list.Add(Norm(c, id++, "norm.weight", c.Hidden));
        list.Add(Projection(c, id, "lm_head.weight", c.Hidden, c.Vocab));
        if (attention == DecoderAttention.GroupQueryAttention)
        {
            list.Add(Rotary(c, RotaryKind.Cos));
            list.Add(Rotary(c, RotaryKind.Sin));
        }
        else
        {
            list.Add(Rotary(c, RotaryKind.CosFull));
            list.Add(Rotary(c, RotaryKind.SignedSinFull));
        }
        return list;
    }

    /// <summary>The rotary tables' names.</summary>
    public const string CosCache = "rotary.cos_cache", SinCache = "rotary.sin_cache", CosFull = "rotary.cos_full", SignedSinFull = "rotary.signed_sin_full";

    /// <summary>The weight of MatMul [<paramref name="k"/>, <paramref name="n"/>]: σ = 1/√k.</summary>
    private static DecoderTensor Projection(DecoderConfig c, ulong id, string name, int k, int n) =>
        Gaussian(c, id, name, [k, n], 1f / MathF.Sqrt(k));

    private static DecoderTensor Gaussian(DecoderConfig c, ulong id, string name, long[] shape, float sigma)
    {
        ulong seed = TensorSeed(c, id);
        // Four 16-bit uniforms on (−1, 1) per value: variance 4/3, so scale by √(3/4) for variance 1.
        float scale = sigma * MathF.Sqrt(0.75f) / 32768f;
        return new DecoderTensor(name, shape, (start, values) =>
        {
            for (int i = 0; i < values.Length; i++)
            {
                ulong bits = SplitMix64.At(seed, (ulong)(start + i));
                int sum = (int)(bits & 0xFFFF) + (int)((bits >> 16) & 0xFFFF) + (int)((bits >> 32) & 0xFFFF) + (int)(bits >> 48) - 4 * 32768 + 2;
                values[i] = sum * scale;
            }
        });
    }

    private static DecoderTensor Norm(DecoderConfig c, ulong id, string name, int width)
    {
        ulong seed = TensorSeed(c, id);
        return new DecoderTensor(name, [width], (start, values) =>
        {
            for (int i = 0; i < values.Length; i++)
                values[i] = 1f + 0.1f * ((SplitMix64.At(seed, (ulong)(start + i)) >> 40) * (2f / (1 << 24)) - 1f);
        });
    }

    private enum RotaryKind { Cos, Sin, CosFull, SignedSinFull }

    // Cos/Sin: [positions, d/2], as GroupQueryAttention takes them. CosFull = [cos, cos] and SignedSinFull = [−sin, sin]
    // along the head ([positions, d]): then rotate_half(x)·sin = swap_halves(x)·SignedSinFull, one Mul and no Neg.
    private static DecoderTensor Rotary(DecoderConfig c, RotaryKind kind)
    {
        int half = c.HeadDim / 2;
        bool full = kind is RotaryKind.CosFull or RotaryKind.SignedSinFull;
        int width = full ? c.HeadDim : half;
        string name = kind switch { RotaryKind.Cos => CosCache, RotaryKind.Sin => SinCache, RotaryKind.CosFull => CosFull, _ => SignedSinFull };
        return new DecoderTensor(name, [c.MaxPositions, width], (start, values) =>
        {
            for (int i = 0; i < values.Length; i++)
            {
                long at = start + i;
                int position = (int)(at / width), column = (int)(at % width), frequency = column % half;
                double angle = position * Math.Pow(c.RopeTheta, -2.0 * frequency / c.HeadDim);
                values[i] = kind switch
                {
                    RotaryKind.Cos or RotaryKind.CosFull => (float)Math.Cos(angle),
                    RotaryKind.Sin => (float)Math.Sin(angle),
                    _ => (float)(column < half ? -Math.Sin(angle) : Math.Sin(angle)),
                };
            }
        });
    }

    private static ulong TensorSeed(DecoderConfig c, ulong id) => SplitMix64.At(c.Seed, id);
}
