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
public sealed record OcsDecision(OcsTarget Target, ChannelMap Map, bool Reordered, double ErrorBefore, double ErrorAfter, BlockOutlierCount BlocksBefore, BlockOutlierCount BlocksAfter)
{
    /// <summary>Which side the split divides.</summary>
    public OcsSide Side { get; init; } = OcsSide.Weight;

    /// <summary>How two-piece weight channels were divided.</summary>
    public OcsSplitMode Mode { get; init; } = OcsSplitMode.Naive;

    /// <summary>The format whose grid the split was planned (and, for <see cref="OcsSplitMode.Qa"/>, offset) for.</summary>
    public TensorSettings? Reference { get; init; }

    /// <summary>The split weight's values for <see cref="OcsSplitMode.Qa"/>; null when they are the plain map of the original.</summary>
    public float[]? SplitWeight { get; init; }
}

/// <summary>
/// Decides each weight's split: plain OCS, and OCS with outlier channels grouped, are each kept only when they lower
/// the mean squared error of the effective weight (the sum of each channel's quantized pieces, which is what the model
/// computes with) in a reference format — the cheapest candidate, where outliers hurt most.
/// </summary>
public static class OcsPlanner
{
    /// <summary>Plans the split of <paramref name="target"/> with weights <paramref name="w"/>; null when splitting does not help.</summary>
    /// <param name="target">The weight.</param>
    /// <param name="w">Its values.</param>
    /// <param name="ratio">The expand ratio.</param>
    /// <param name="tryReorder">Also try grouping outlier channels.</param>
    /// <param name="reference">The format the error is measured in.</param>
    /// <param name="mode">With <see cref="OcsSplitMode.Qa"/>, the quantization-aware division of the chosen map is tried too and kept when it lowers the error.</param>
    public static OcsDecision? Plan(OcsTarget target, float[] w, double ratio, bool tryReorder, TensorSettings reference, OcsSplitMode mode = OcsSplitMode.Naive)
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
        float[]? qa = null;
        if (mode == OcsSplitMode.Qa)
        {
            float[] values = QaSplit.Apply(w, view, best.Map, reference);
            double e = EffectiveMse(w, view, best.Map, values, reference);
            if (e < best.Error)
            {
                qa = values;
                best.Error = e;
            }
        }
        float threshold = BlockOutlierCount.Threshold(w, view);
        return new OcsDecision(target, best.Map, best.Reordered, before, best.Error,
            BlockOutlierCount.Of(w, view, reference.BlockSize, threshold),
            BlockOutlierCount.Of(qa ?? view.Apply(w, best.Map), view.WithK(best.Map.Count), reference.BlockSize, threshold))
        {
            Mode = qa is null ? OcsSplitMode.Naive : OcsSplitMode.Qa,
            Reference = reference,
            SplitWeight = qa,
        };
    }

    /// <summary>
    /// Plans an activation-side split of <paramref name="target"/>'s activation from its statistics: only when some
    /// column's amax is at least <paramref name="threshold"/> × the median column amax; the columns with the largest
    /// amax are split (<see cref="ChannelSplitPlanner.SplitByAmax"/>), optionally grouped, and a variant is kept only
    /// when it lowers the MSE of the effective activation (the sum of each column's quantized pieces) on the reservoir
    /// rows in <paramref name="reference"/>. Null when nothing helps.
    /// </summary>
    public static OcsDecision? PlanActivation(OcsTarget target, Statistics.TensorStatistics stats, double ratio, float threshold, bool tryReorder, TensorSettings reference)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(stats);
        if (stats.K != target.View.K || stats.Reservoir.Rows.Count == 0 || stats.OutlierChannels(threshold).Count == 0) return null;
        float[] rows = stats.Reservoir.ToMatrix();
        var view = new WeightView(stats.K, stats.Reservoir.Rows.Count, false);
        var identity = ChannelMap.Identity(view.K);
        double before = EffectiveMse(rows, view, identity, reference);
        var best = (Map: identity, Error: before, Reordered: false);
        var split = ChannelSplitPlanner.SplitByAmax(stats.ChannelAmax.ToArray(), ratio, reference.BlockSize);
        if (!split.IsIdentity)
        {
            double e = EffectiveMse(rows, view, split, reference);
            if (e < best.Error) best = (split, e, false);
            if (tryReorder)
            {
                var grouped = ChannelSplitPlanner.GroupOutliers(rows, view, split);
                double g = EffectiveMse(rows, view, grouped, reference);
                if (!grouped.IsIdentity && g < best.Error) best = (grouped, g, true);
            }
        }
        if (best.Map.IsIdentity) return null;
        float limit = threshold * stats.MedianChannelAmax();
        return new OcsDecision(target, best.Map, best.Reordered, before, best.Error,
            BlockOutlierCount.Of(rows, view, reference.BlockSize, limit),
            BlockOutlierCount.Of(view.Apply(rows, best.Map), view.WithK(best.Map.Count), reference.BlockSize, limit))
        {
            Side = OcsSide.Activation,
            Reference = reference,
        };
    }

    /// <summary>MSE of the effective weight when the mapped weight is quantized with <paramref name="s"/>.</summary>
    public static double EffectiveMse(float[] w, WeightView view, ChannelMap map, TensorSettings s) => EffectiveMse(w, view, map, view.Apply(w, map), s);

    /// <summary>MSE of the effective weight when <paramref name="mapped"/> (the split values under <paramref name="map"/>) is quantized with <paramref name="s"/>.</summary>
    public static double EffectiveMse(float[] w, WeightView view, ChannelMap map, float[] mapped, TensorSettings s)
    {
        var mappedView = view.WithK(map.Count);
        var layout = new WeightLayout(mappedView.Shape.Select(d => (int)d).ToArray(), view.ChannelsAreRows ? 0 : 1);
        float[] q = FakeQuant.Apply(mapped, layout, s);
        return MxErrorMetrics.Compute(w, view.Fold(q, map)).Mse;
    }
}
