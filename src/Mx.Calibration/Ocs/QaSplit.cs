using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Ocs;

/// <summary>
/// The quantization-aware split (Zhao et al., ICML 2019, adapted to MX). A weight value w split into two pieces becomes
/// h1 = w/2 − Δ/4 and h2 = w/2 + Δ/4 (h1 + h2 = w exactly), where Δ is the spacing of the element grid at |w/2| at the
/// pieces' block scale: for a float element format E·M with block scale X, Δ = X · 2^(max(⌊log2(|w/2|/X)⌋, 1 − bias) − M);
/// for MXINT8, Δ = X · 2^−6. X is the OCP floor scale 2^(⌊log2 amax⌋ − emax) of the block holding each piece in the
/// naive split; when the two pieces sit in blocks of different scales the coarser Δ is used. On a uniform grid of step Δ,
/// round(v − ¼) + round(v + ¼) = round(2v) for v = w/(2Δ): the rounded pieces sum to w rounded at step Δ, where the
/// naive halves give 2·round(w/2) — w rounded at step 2Δ. Only channels split exactly in two are adjusted; the
/// shared-microexponent formats keep the naive split.
/// </summary>
public static class QaSplit
{
    /// <summary>The mapped weight with every two-piece channel split quantization-aware for <paramref name="s"/>.</summary>
    public static float[] Apply(ReadOnlySpan<float> w, WeightView view, ChannelMap map, TensorSettings s)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(s);
        float[] mapped = view.Apply(w, map);
        var f = s.Format;
        if (f.Kind == MxElementKind.SharedMicroExponent) return mapped;
        var to = view.WithK(map.Count);
        int bs = s.BlockSize, nb = (map.Count + bs - 1) / bs;
        // Block scales of the naive split, per (value n, block).
        var scale = new double[(long)view.N * nb];
        for (int j = 0; j < map.Count; j++)
            for (int n = 0; n < view.N; n++)
            {
                long b = (long)n * nb + j / bs;
                scale[b] = Math.Max(scale[b], Math.Abs(mapped[to.Index(j, n)]));
            }
        for (long b = 0; b < scale.LongLength; b++)
            scale[b] = scale[b] > 0 ? Math.Pow(2, Math.Floor(Math.Log2(scale[b])) - f.Emax) : 0;
        foreach (var pieces in Enumerable.Range(0, map.Count).GroupBy(j => map.Sources[j]).Where(g => g.Count() == 2))
        {
            int j1 = pieces.First(), j2 = pieces.Last();
            if (map.Factors[j1] != 0.5f || map.Factors[j2] != 0.5f) continue;
            for (int n = 0; n < view.N; n++)
            {
                float h = mapped[to.Index(j1, n)];
                double delta = Math.Max(Step(f, h, scale[(long)n * nb + j1 / bs]), Step(f, h, scale[(long)n * nb + j2 / bs]));
                if (delta <= 0) continue;
                float half = w[view.Index(pieces.Key, n)];
                mapped[to.Index(j1, n)] = (float)(half / 2.0 - delta / 4);
                mapped[to.Index(j2, n)] = (float)(half / 2.0 + delta / 4);
            }
        }
        return mapped;
    }

    /// <summary>The local spacing of <paramref name="f"/>'s element grid at value <paramref name="v"/> in a block of scale <paramref name="x"/>.</summary>
    public static double Step(MxFormat f, double v, double x)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (x <= 0) return 0;
        if (f.Kind == MxElementKind.Int) return x * Math.Pow(2, -f.MantissaBits);
        int emin = 1 - f.ExponentBias;
        double a = Math.Abs(v) / x;
        int e = a > 0 ? Math.Max((int)Math.Floor(Math.Log2(a)), emin) : emin;
        return x * Math.Pow(2, e - f.MantissaBits);
    }
}
