using Mx.Calibration.Selection;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Ocs;

/// <summary>The split chosen for one weight, with the evidence.</summary>
/// <param name="Target">The weight.</param>
/// <param name="Map">The channel map (split and possibly reordered).</param>
/// <param name="Reordered">Whether the outlier grouping was kept.</param>
/// <param name="ErrorBefore">Mean squared error of the effective weight in the reference format without splitting.</param>
/// <param name="ErrorAfter">The same with <paramref name="Map"/>.</param>
/// <param name="BlocksBefore">Outlier blocks before.</param>
/// <param name="BlocksAfter">Outlier blocks after.</param>
public sealed record OcsDecision(OcsTarget Target, ChannelMap Map, bool Reordered, double ErrorBefore, double ErrorAfter, BlockOutlierCount BlocksBefore, BlockOutlierCount BlocksAfter);

/// <summary>
/// Decides each weight's split: plain OCS, and OCS with outlier channels grouped, are each kept only when they lower
/// the mean squared error of the effective weight (the sum of each channel's quantized pieces, which is what the model
/// computes with) in a reference format — the cheapest candidate, where outliers hurt most.
/// </summary>
public static class OcsPlanner
{
    /// <summary>Plans the split of <paramref name="target"/> with weights <paramref name="w"/>; null when splitting does not help.</summary>
    public static OcsDecision? Plan(OcsTarget target, float[] w, double ratio, bool tryReorder, TensorSettings reference)
    {
        ArgumentNullException.ThrowIfNull(target);
        var view = target.View;
        var identity = ChannelMap.Identity(view.K);
        double before = EffectiveMse(w, view, identity, reference);
        var best = (Map: identity, Error: before, Reordered: false);
        var split = ChannelSplitPlanner.Split(w, view, ratio, reference.BlockSize);
        if (!split.IsIdentity)
        {
            double e = EffectiveMse(w, view, split, reference);
            if (e < best.Error) best = (split, e, false);
        }
        if (tryReorder)
        {
            var grouped = ChannelSplitPlanner.GroupOutliers(w, view, split);
            if (!grouped.IsIdentity)
            {
                double e = EffectiveMse(w, view, grouped, reference);
                if (e < best.Error) best = (grouped, e, true);
            }
        }
        if (best.Map.IsIdentity) return null;
        float threshold = BlockOutlierCount.Threshold(w, view);
        return new OcsDecision(target, best.Map, best.Reordered, before, best.Error,
            BlockOutlierCount.Of(w, view, reference.BlockSize, threshold),
            BlockOutlierCount.Of(view.Apply(w, best.Map), view.WithK(best.Map.Count), reference.BlockSize, threshold));
    }

    /// <summary>MSE of the effective weight when the mapped weight is quantized with <paramref name="s"/>.</summary>
    public static double EffectiveMse(float[] w, WeightView view, ChannelMap map, TensorSettings s)
    {
        var mappedView = view.WithK(map.Count);
        float[] mapped = view.Apply(w, map);
        var layout = new WeightLayout(mappedView.Shape.Select(d => (int)d).ToArray(), view.ChannelsAreRows ? 0 : 1);
        float[] q = FakeQuant.Apply(mapped, layout, s);
        return MxErrorMetrics.Compute(w, view.Fold(q, map)).Mse;
    }
}
