using System.Globalization;
using Mx.Onnx.Proto;

namespace Mx.Calibration.Capture;

/// <summary>
/// A Conv node's sliding-window geometry (ONNX Conv: group, kernel, strides, dilations, pads or auto_pad, any number
/// of spatial axes), and the im2col rows it reads: for output position p of batch item b and group g, the row holds
/// X[b, g·Cg + c, p·stride + kernel offset·dilation − pad] for c ∈ [0, Cg) and every kernel offset, flattened as
/// c·Π(kernel) + offset — the order of the weight's flattened reduction axis [Cout, Cg·Π(kernel)]. Positions in the
/// padding read 0.
/// </summary>
public sealed record ConvGeometry(int Group, int[] Kernel, int[] Strides, int[] Dilations, int[] Pads, string AutoPad)
{
    /// <summary>Spatial axes.</summary>
    public int SpatialRank => Kernel.Length;

    /// <summary>Π(kernel).</summary>
    public int KernelSize => Kernel.Aggregate(1, (a, b) => a * b);

    /// <summary>The geometry of <paramref name="node"/> reading a weight of shape <paramref name="weightShape"/> [Cout, Cg, k…].</summary>
    /// <exception cref="ArgumentException">The attributes do not fit the weight's rank; the message names the node.</exception>
    public static ConvGeometry Of(NodeProto node, IReadOnlyList<long> weightShape)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(weightShape);
        int s = weightShape.Count - 2;
        string where = $"Conv '{(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault())}'";
        if (s < 1) throw new ArgumentException($"{where}: weight of rank {weightShape.Count}");
        int[] Ints(string name, int count, int fallback)
        {
            var a = node.Attribute.FirstOrDefault(x => x.Name == name);
            if (a is null || a.Ints.Count == 0) return Enumerable.Repeat(fallback, count).ToArray();
            if (a.Ints.Count != count) throw new ArgumentException($"{where}: attribute {name} has {a.Ints.Count} values, {count} expected");
            return a.Ints.Select(v => checked((int)v)).ToArray();
        }
        var kernel = weightShape.Skip(2).Select(d => checked((int)d)).ToArray();
        int[] declared = Ints("kernel_shape", s, 0);
        if (declared.Any(d => d != 0) && !declared.SequenceEqual(kernel))
            throw new ArgumentException($"{where}: kernel_shape [{string.Join(", ", declared)}] differs from the weight's [{string.Join(", ", kernel)}]");
        int group = (int)(node.Attribute.FirstOrDefault(x => x.Name == "group")?.I ?? 1);
        if (group < 1) throw new ArgumentException($"{where}: group {group}");
        string autoPad = node.Attribute.FirstOrDefault(x => x.Name == "auto_pad")?.S.ToStringUtf8() ?? "NOTSET";
        if (autoPad.Length == 0) autoPad = "NOTSET";
        if (autoPad is not ("NOTSET" or "VALID" or "SAME_UPPER" or "SAME_LOWER")) throw new ArgumentException($"{where}: auto_pad '{autoPad}'");
        return new ConvGeometry(group, kernel, Ints("strides", s, 1), Ints("dilations", s, 1), Ints("pads", 2 * s, 0), autoPad);
    }

    /// <summary>The output spatial sizes and begin pads for an input of spatial sizes <paramref name="input"/>.</summary>
    public (int[] Output, int[] PadBegin) Resolve(ReadOnlySpan<long> input)
    {
        if (input.Length != SpatialRank) throw new ArgumentException($"an input of {input.Length} spatial axes for a Conv of {SpatialRank}");
        var output = new int[SpatialRank];
        var begin = new int[SpatialRank];
        for (int i = 0; i < SpatialRank; i++)
        {
            long size = input[i], span = (long)Dilations[i] * (Kernel[i] - 1) + 1;
            long o;
            if (AutoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                o = (size + Strides[i] - 1) / Strides[i];
                long total = Math.Max(0, (o - 1) * Strides[i] + span - size);
                begin[i] = (int)(AutoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2);
            }
            else
            {
                long pb = AutoPad == "VALID" ? 0 : Pads[i], pe = AutoPad == "VALID" ? 0 : Pads[i + SpatialRank];
                o = (size + pb + pe - span) / Strides[i] + 1;
                begin[i] = (int)pb;
            }
            if (o < 1) throw new ArgumentException($"Conv input of spatial size [{string.Join(", ", input.ToArray())}] is smaller than the kernel's span");
            output[i] = checked((int)o);
        }
        return (output, begin);
    }

    /// <summary>
    /// Writes the im2col row of output position <paramref name="position"/> (flat over the output's spatial axes) of
    /// batch item <paramref name="batch"/> and group <paramref name="group"/> into <paramref name="row"/> (Cg·Π(kernel) values).
    /// </summary>
    /// <param name="x">The input, row-major [N, C, spatial…].</param>
    /// <param name="shape">The input's shape.</param>
    /// <param name="output">Output spatial sizes (from <see cref="Resolve"/>).</param>
    /// <param name="padBegin">Begin pads (from <see cref="Resolve"/>).</param>
    /// <param name="batch">The batch item.</param>
    /// <param name="position">The output position, flat over the output's spatial axes.</param>
    /// <param name="group">The group.</param>
    /// <param name="row">Receives Cg·Π(kernel) values.</param>
    public void Row(ReadOnlySpan<float> x, ReadOnlySpan<long> shape, int[] output, int[] padBegin, int batch, long position, int group, Span<float> row)
    {
        int s = SpatialRank;
        long channels = shape[1];
        int cg = (int)(channels / Group), kernelSize = KernelSize;
        if (row.Length != cg * kernelSize) throw new ArgumentException($"an im2col row of {row.Length} values; Cg·Π(kernel) = {cg * kernelSize}");
        Span<long> start = stackalloc long[s];
        Span<long> inner = stackalloc long[s];
        long rest = position;
        for (int i = s - 1; i >= 0; i--)
        {
            start[i] = rest % output[i] * Strides[i] - padBegin[i];
            rest /= output[i];
        }
        long plane = 1;
        for (int i = s - 1; i >= 0; i--)
        {
            inner[i] = plane;
            plane *= shape[2 + i];
        }
        Span<int> k = stackalloc int[s];
        for (int offset = 0; offset < kernelSize; offset++)
        {
            int rem = offset;
            for (int i = s - 1; i >= 0; i--)
            {
                k[i] = rem % Kernel[i];
                rem /= Kernel[i];
            }
            long at = 0;
            bool inside = true;
            for (int i = 0; i < s && inside; i++)
            {
                long c = start[i] + (long)k[i] * Dilations[i];
                inside = c >= 0 && c < shape[2 + i];
                at += c * inner[i];
            }
            long channelBase = ((long)batch * channels + (long)group * cg) * plane;
            for (int c = 0; c < cg; c++)
                row[c * kernelSize + offset] = inside ? x[(int)(channelBase + c * plane + at)] : 0f;
        }
    }

    /// <summary>A stable text key of the geometry (with the activation's name it identifies one H).</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture,
        $"g{Group}k{string.Join("x", Kernel)}s{string.Join("x", Strides)}d{string.Join("x", Dilations)}p{string.Join("x", Pads)}{AutoPad}");
}
