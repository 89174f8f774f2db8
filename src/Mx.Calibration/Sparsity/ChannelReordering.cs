using Mx.Onnx;
using Mx.Onnx.Tensors;

namespace Mx.Calibration.Sparsity;

/// <summary>How often each hidden channel of an MLP is active, and what a permutation does to the 32-block density.</summary>
/// <param name="Group">The MLP.</param>
/// <param name="ActiveFrequency">Per channel, the fraction of calibration rows where |h| exceeds the threshold.</param>
/// <param name="Permutation">New channel i is old channel <c>Permutation[i]</c>.</param>
/// <param name="DensityBefore">Fraction of (row, 32-block) pairs with an active channel, in the original order.</param>
/// <param name="DensityAfter">The same after the permutation.</param>
public sealed record ChannelReorderPlan(MlpChannelGroup Group, double[] ActiveFrequency, int[] Permutation, double DensityBefore, double DensityAfter);

/// <summary>
/// Equivalent reordering (PIT-style) of an MLP's hidden channels so that the channels that are usually inactive share
/// 32-element blocks: the K-major kernels then find whole blocks of the down projection's input at zero more often
/// and skip them. Channels are ordered by how often they are active (least first, ties by index), measured on
/// calibration rows of the hidden tensor; the rewrite permutes the producers' weight columns, the per-channel
/// constants and the down weight's rows, so the model computes the same function.
/// </summary>
public static class ChannelReordering
{
    /// <summary>Elements per block the kernels skip.</summary>
    public const int Block = 32;

    /// <summary>Plans the permutation from <paramref name="hidden"/> (rows × <see cref="MlpChannelGroup.Size"/> values).</summary>
    /// <param name="group">The MLP.</param>
    /// <param name="hidden">Calibration rows of the hidden tensor, row-major.</param>
    /// <param name="threshold">|h| above this counts as active (0: any non-zero).</param>
    public static ChannelReorderPlan Plan(MlpChannelGroup group, ReadOnlySpan<float> hidden, float threshold = 0)
    {
        ArgumentNullException.ThrowIfNull(group);
        int h = group.Size;
        if (hidden.Length == 0 || hidden.Length % h != 0)
            throw new ArgumentException($"hidden activations of '{group.Hidden}' have {hidden.Length} values, not a positive multiple of {h}");
        int rows = hidden.Length / h;
        var active = new double[h];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < h; c++)
                if (!(Math.Abs(hidden[r * h + c]) <= threshold)) active[c]++;   // NaN counts as active
        for (int c = 0; c < h; c++) active[c] /= rows;
        int[] perm = Enumerable.Range(0, h).OrderBy(c => active[c]).ThenBy(c => c).ToArray();
        return new ChannelReorderPlan(group, active, perm, BlockDensity(hidden, h, null, threshold), BlockDensity(hidden, h, perm, threshold));
    }

    /// <summary>Fraction of (row, block) pairs of the hidden rows, in the order <paramref name="perm"/> (null: as is), with an active channel.</summary>
    public static double BlockDensity(ReadOnlySpan<float> hidden, int h, int[]? perm, float threshold = 0)
    {
        int rows = hidden.Length / h, blocks = (h + Block - 1) / Block;
        long live = 0;
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < blocks; b++)
                for (int i = b * Block; i < Math.Min(h, (b + 1) * Block); i++)
                    if (!(Math.Abs(hidden[r * h + (perm?[i] ?? i)]) <= threshold)) { live++; break; }
        return rows == 0 ? 0 : (double)live / ((long)rows * blocks);
    }

    /// <summary>Rewrites <paramref name="model"/> in place by <paramref name="plan"/>'s permutation.</summary>
    /// <exception cref="ArgumentException">The permutation is not one of the hidden size.</exception>
    public static void Apply(OnnxModel model, ChannelReorderPlan plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        var g = plan.Group;
        int h = g.Size;
        int[] perm = plan.Permutation;
        if (perm.Length != h || perm.Distinct().Count() != h || perm.Any(p => p < 0 || p >= h))
            throw new ArgumentException($"the permutation of '{g.Hidden}' is not a permutation of its {h} channels");
        foreach (string name in g.Producers)
        {
            var t = model.FindInitializer(name)!;
            long rows = t.Dims[0];
            float[] w = model.ReadFloat32(t), p = new float[w.Length];
            for (long r = 0; r < rows; r++)
                for (int c = 0; c < h; c++) p[r * h + c] = w[r * h + perm[c]];
            model.SetInitializer(TensorFactory.Float32(name, [rows, h], p));
        }
        foreach (var c in g.Constants)
        {
            float[] v = model.ReadFloat32(model.FindInitializer(c.Name)!), p = new float[v.Length];
            for (int i = 0; i < h; i++) p[i] = v[perm[i]];
            model.SetInitializer(TensorFactory.Float32(c.Name, c.Shape, p));
        }
        var wd = model.FindInitializer(g.DownWeight)!;
        long d = wd.Dims[1];
        float[] down = model.ReadFloat32(wd), pd = new float[down.Length];
        for (int i = 0; i < h; i++) Array.Copy(down, perm[i] * d, pd, i * d, d);
        model.SetInitializer(TensorFactory.Float32(g.DownWeight, [h, d], pd));
        model.Refresh();
    }
}

/// <summary>Runs a model on calibration samples and collects the hidden tensors of its permutable MLPs.</summary>
public static class HiddenActivations
{
    /// <summary>
    /// Every permutable MLP of <paramref name="model"/> (<see cref="MlpChannelGroup.Find"/>), planned from its hidden
    /// activations over <paramref name="samples"/> and applied (the model is edited in place); returns the plans.
    /// Groups whose reorder would not lower the block density are left as they are (and not returned).
    /// </summary>
    public static IReadOnlyList<ChannelReorderPlan> ReorderAll(OnnxModel model, Data.CalibrationSamples samples, float threshold = 0)
    {
        var groups = MlpChannelGroup.Find(model);
        if (groups.Count == 0) return [];
        var rows = Capture(model, groups, samples);
        var plans = new List<ChannelReorderPlan>();
        for (int i = 0; i < groups.Count; i++)
        {
            var plan = ChannelReordering.Plan(groups[i], rows[i], threshold);
            if (plan.DensityAfter >= plan.DensityBefore) continue;
            ChannelReordering.Apply(model, plan);
            plans.Add(plan);
        }
        return plans;
    }

    /// <summary>The hidden rows (samples × positions, channels last) of each group, in the order of <paramref name="groups"/>.</summary>
    public static float[][] Capture(OnnxModel model, IReadOnlyList<MlpChannelGroup> groups, Data.CalibrationSamples samples)
    {
        var copy = OnnxModel.FromBytes(model.ToBytes());
        foreach (var g in groups)
            if (!copy.Proto.Graph.Output.Any(o => o.Name == g.Hidden))
                copy.Proto.Graph.Output.Add(new Mx.Onnx.Proto.ValueInfoProto { Name = g.Hidden, Type = new Mx.Onnx.Proto.TypeProto { TensorType = new Mx.Onnx.Proto.TypeProto.Types.Tensor { ElemType = 1 } } });
        using var options = Mx.Runtime.Ort.HostTensorSession.CreateOptions();
        using var session = Mx.Runtime.Ort.HostTensorSession.FromBytes(copy.ToBytes(), options);
        var names = groups.Select(g => g.Hidden).ToArray();
        var collected = groups.Select(_ => new List<float>()).ToArray();
        foreach (var sample in samples.Samples)
        {
            var outputs = session.Run(sample, names);
            for (int i = 0; i < groups.Count; i++) collected[i].AddRange(outputs[i].ToFloatArray());
        }
        return collected.Select(c => c.ToArray()).ToArray();
    }
}
