using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Quantization;

/// <summary>
/// The packed form: the weight becomes two or three uint8 initializers read by the mx.onnx ops. MatMul and Gemm
/// become MxMatMul, Gather becomes MxGather, Conv reads its weight through MxDequantize → Reshape.
/// </summary>
internal static class PackedEmitter
{
    public static EmittedTensor Emit(EmitContext ctx, WeightCandidate c, LayoutGroup group, MxPackedTensor packed, TensorSettings s, bool kmajor = false)
    {
        if (kmajor) return EmitKMajor(ctx, c, group, packed, s);
        var home = c.Constant.Graph.Proto;
        var layout = packed.Layout;
        long[] rowShape(long width) => [layout.Rows, width];
        string elements = ctx.Name(c.Name + ".mx_elements");
        ctx.AddInitializer(home, elements, TensorElementType.UInt8, rowShape(layout.RowBytes), ToArray(packed.Elements));
        string scales = ctx.Name(c.Name + ".mx_scales");
        ctx.AddInitializer(home, scales, TensorElementType.UInt8, rowShape(layout.BlocksPerRow), ToArray(packed.Scales));
        string? micro = null;
        if (layout.MicroBytes > 0)
        {
            micro = ctx.Name(c.Name + ".mx_micro");
            ctx.AddInitializer(home, micro, TensorElementType.UInt8, rowShape((long)layout.BlocksPerRow * layout.MicroBytesPerBlock), ToArray(packed.Micro));
        }
        long bytes = layout.ElementBytes + layout.ScaleBytes + layout.MicroBytes;
        var notes = new List<string>();
        var dequantized = new Dictionary<GraphProto, string>(ReferenceEqualityComparer.Instance);
        foreach (var use in group.Uses)
        {
            ctx.UsesMxDomain = true;
            switch (use.Op)
            {
                case "MatMul":
                    RewriteMatMul(ctx, use, group.Layout, elements, scales, micro, s);
                    break;
                case "Gemm":
                    RewriteGemm(ctx, use, group.Layout, elements, scales, micro, s, notes);
                    break;
                case "Gather":
                    RewriteGather(ctx, use, group.Layout, elements, scales, micro, s);
                    break;
                case "Conv":
                    if (!dequantized.TryGetValue(use.Graph.Proto, out string? weight))
                    {
                        weight = DequantizeConvWeight(ctx, c, group, use, elements, scales, micro, s);
                        dequantized[use.Graph.Proto] = weight;
                        bytes += c.Shape.Length * 8L;
                    }
                    use.Node.Input[1] = weight;
                    ctx.QuantizeActivation(use.Graph.Proto, use.Node, 0, 1, s);
                    break;
            }
        }
        return new EmittedTensor(elements, scales, micro, bytes, notes);
    }

    // K-major storage (docs/packed-layout.md): [nb, T·16·BlockBytes] elements, or, when some (K-block, tile)s are all
    // zero, only the stored tiles [stored, 16·BlockBytes] and the tile mask [nb, ceil(T/8)]; scales [nb, T·16].
    // Only MatMul/Gemm read such a weight (the caller checked).
    private static EmittedTensor EmitKMajor(EmitContext ctx, WeightCandidate c, LayoutGroup group, MxPackedTensor packed, TensorSettings s)
    {
        var home = c.Constant.Graph.Proto;
        var rows = packed.Layout;
        var k = new MxKMajorLayout(s.Format, checked((int)rows.Rows), rows.K, s.BlockSize);
        var (dense, scaleBytes) = k.FromRowMajor(packed.Elements.Span, packed.Scales.Span);
        var (compact, mask) = k.Compact(dense);
        bool masked = compact.Length < dense.Length;
        string elements = ctx.Name(c.Name + ".mx_elements");
        if (masked) ctx.AddInitializer(home, elements, TensorElementType.UInt8, [compact.Length / k.TileBytes, k.TileBytes], compact);
        else ctx.AddInitializer(home, elements, TensorElementType.UInt8, [k.Blocks, k.BlockStride], dense);
        string scales = ctx.Name(c.Name + ".mx_scales");
        ctx.AddInitializer(home, scales, TensorElementType.UInt8, [k.Blocks, k.PaddedN], scaleBytes);
        string? maskName = null;
        if (masked)
        {
            maskName = ctx.Name(c.Name + ".mx_tile_mask");
            ctx.AddInitializer(home, maskName, TensorElementType.UInt8, [k.Blocks, k.MaskRowBytes], mask);
        }
        var notes = new List<string>();
        foreach (var use in group.Uses)
        {
            ctx.UsesMxDomain = true;
            if (use.Op == "MatMul") RewriteMatMul(ctx, use, group.Layout, elements, scales, null, s, maskName ?? "");
            else RewriteGemm(ctx, use, group.Layout, elements, scales, null, s, notes, maskName ?? "");
        }
        long bytes = (masked ? compact.Length + mask.Length : dense.Length) + scaleBytes.Length;
        notes.Add(masked
            ? $"K-major, {compact.Length / k.TileBytes} of {(long)k.Blocks * k.Tiles} tiles stored (the all-zero ones are not)"
            : "K-major (zero activation blocks are skipped)");
        return new EmittedTensor(elements, scales, null, bytes, notes) { Layout = "kmajor", Mask = maskName };
    }

    private static byte[] ToArray(ReadOnlyMemory<byte> m) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(m, out var seg) && seg.Offset == 0 && seg.Count == seg.Array!.Length ? seg.Array : m.ToArray();

    private static List<AttributeProto> Common(TensorSettings s) =>
        [GraphEdits.String("format", s.Format.Name), GraphEdits.Int("block_size", s.BlockSize)];

    private static void Become(NodeProto node, string op, IEnumerable<string> inputs, IEnumerable<AttributeProto> attributes)
    {
        node.OpType = op;
        node.Domain = Mx.Runtime.Ops.MxOps.DomainName;
        node.Input.Clear();
        node.Input.AddRange(inputs);
        node.Attribute.Clear();
        node.Attribute.AddRange(attributes);
    }

    // A, W_elements, W_scales, bias?, W_micro?, W_mask? (null: K-major off; "": K-major without a mask).
    private static IEnumerable<string> Inputs(string a, string elements, string scales, string? bias, string? micro, string? mask = null)
    {
        var list = new List<string> { a, elements, scales };
        if (bias != null || micro != null || mask is { Length: > 0 }) list.Add(bias ?? "");
        if (micro != null || mask is { Length: > 0 }) list.Add(micro ?? "");
        if (mask is { Length: > 0 }) list.Add(mask);
        return list;
    }

    private static void AddKMajor(List<AttributeProto> attrs, EmitContext ctx, string? mask)
    {
        if (mask == null) return;
        attrs.Add(GraphEdits.String("layout", "kmajor"));
        if (ctx.Options.SparseThreshold > 0) attrs.Add(GraphEdits.Float("sparse_threshold", ctx.Options.SparseThreshold));
    }

    /// <summary>Weight-only MxMatMul, or MX×MX with act_format when the activation format is one the kernel takes.</summary>
    private static List<AttributeProto> MatMulAttributes(EmitContext ctx, EmitContext _, WeightLayout layout, TensorSettings s, out bool actInside)
    {
        // The MxMatMul layout is [N, K] packed along K: from [K, N] axis 0 or [N, K] axis 1 alike.
        int k = layout.K, n = layout.BlockShape[1 - layout.Axis];
        var attrs = Common(s);
        attrs.Add(GraphEdits.Int("K", k));
        attrs.Add(GraphEdits.Int("N", n));
        actInside = s.ResolveActFormat(ctx.Options.ActFormat)?.Name == "mxint8";
        if (actInside) attrs.Add(GraphEdits.String("act_format", "mxint8"));
        return attrs;
    }

    private static void RewriteMatMul(EmitContext ctx, WeightUse use, WeightLayout layout, string elements, string scales, string? micro, TensorSettings s, string? mask = null)
    {
        var node = use.Node;
        var attrs = MatMulAttributes(ctx, ctx, layout, s, out bool actInside);
        AddKMajor(attrs, ctx, mask);
        Become(node, "MxMatMul", Inputs(node.Input[0], elements, scales, null, micro, mask), attrs);
        if (!actInside) ctx.QuantizeActivation(use.Graph.Proto, node, 0, -1, s);
    }

    private static void RewriteGemm(EmitContext ctx, WeightUse use, WeightLayout layout, string elements, string scales, string? micro, TensorSettings s, List<string> notes, string? mask = null)
    {
        var node = use.Node;
        var graph = use.Graph.Proto;
        float alpha = WeightFinder.GetFloat(node, "alpha", 1f), beta = WeightFinder.GetFloat(node, "beta", 1f);
        string a = GemmEdits.TransposeA(ctx, graph, node);
        int n = layout.BlockShape[1 - layout.Axis];
        string? c = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
        string? bias = null;
        if (c != null && use.Graph.FindConstant(c) is { } cc && cc.ElementType == TensorElementType.Float
            && (cc.Shape.SequenceEqual([(long)n]) || cc.Shape.SequenceEqual([1L, n])))
        {
            if (cc.Shape.Length == 1) bias = c;
            else
            {
                bias = ctx.Name(c + ".row");
                var data = use.Graph.Model.GetTensorBytes(cc.Tensor).ToArray();
                ctx.AddInitializer(cc.Graph.Proto, bias, TensorElementType.Float, [n], data);
            }
            c = null;
        }
        var attrs = MatMulAttributes(ctx, ctx, layout, s, out bool actInside);
        attrs.Add(GraphEdits.Float("alpha", alpha));
        attrs.Add(GraphEdits.Float("beta", beta));
        AddKMajor(attrs, ctx, mask);
        if (c != null)
        {
            // A bias of another shape (or computed): Y = MxMatMul(alpha) + beta·C after the op, as Gemm broadcasts it.
            GemmEdits.AddAfter(ctx, graph, node, c, beta);
            notes.Add($"Gemm '{node.Name}': C is added by a following Add");
        }
        Become(node, "MxMatMul", Inputs(a, elements, scales, bias, micro, mask), attrs);
        if (!actInside) ctx.QuantizeActivation(graph, node, 0, -1, s);
    }

    private static void RewriteGather(EmitContext ctx, WeightUse use, WeightLayout layout, string elements, string scales, string? micro, TensorSettings s)
    {
        var node = use.Node;
        string indices = node.Input[1];
        if (GraphEdits.DeclaredElementType(use.Graph, indices) != (int)TensorElementType.Int64)
        {
            // MxGather takes int64 indices; Gather also accepts int32 (a Cast of int64 to int64 is a no-op).
            string cast = ctx.Name(indices + ".int64");
            GraphEdits.InsertBefore(use.Graph.Proto, node, GraphEdits.Node("Cast", ctx.Name(node.Name + "_indices"), [indices], [cast], "", GraphEdits.Int("to", (long)TensorElementType.Int64)));
            indices = cast;
        }
        var attrs = Common(s);
        attrs.Add(GraphEdits.Int("D", layout.BlockShape[1]));
        var inputs = new List<string> { elements, scales, indices };
        if (micro != null) inputs.Add(micro);
        Become(node, "MxGather", inputs, attrs);
    }

    private static string DequantizeConvWeight(EmitContext ctx, WeightCandidate c, LayoutGroup group, WeightUse first, string elements, string scales, string? micro, TensorSettings s)
    {
        var graph = first.Graph.Proto;
        var anchor = group.Uses.Where(u => ReferenceEquals(u.Graph.Proto, graph)).Select(u => u.Node).MinBy(n => graph.Node.IndexOf(n))!;
        string flat = ctx.Name(c.Name + ".mx_dequantized");
        var attrs = Common(s);
        attrs.Add(GraphEdits.Ints("shape", group.Layout.BlockShape.Select(d => (long)d)));
        attrs.Add(GraphEdits.Int("axis", group.Layout.Axis));
        var inputs = new List<string> { elements, scales };
        if (micro != null) inputs.Add(micro);
        GraphEdits.InsertBefore(graph, anchor, GraphEdits.MxNode("MxDequantize", ctx.Name(c.Name + "_mx_dequantize"), inputs, [flat], [.. attrs]));
        string shape = ctx.AddInt64(graph, c.Name + ".shape", c.Shape).Name;
        string weight = ctx.Name(c.Name + ".mx_weight");
        GraphEdits.InsertBefore(graph, anchor, GraphEdits.Node("Reshape", ctx.Name(c.Name + "_reshape"), [flat, shape], [weight]));
        return weight;
    }
}
