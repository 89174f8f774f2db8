using Mx.Onnx.Proto;
using Mx.Runtime;

namespace Mx.Onnx.Quantization;

/// <summary>
/// The MatMulNBits form (ONNX Runtime's contrib op, 4-bit blocks; not MX): MatMul and Gemm weights become
/// <c>com.microsoft.MatMulNBits</c> with the codes, scales and (optionally) zero points of
/// <see cref="MatMulNBitsPacker"/>, <c>bits = 4</c>, the run's block size and <c>accuracy_level</c>:
/// <code>
/// MatMul(A, B)                →  MatMulNBits(A, B.nbits_codes, B.nbits_scales[, B.nbits_zero_points])   K, N, bits, block_size, accuracy_level
/// Gemm(A, B, C) α β transA/B  →  [Transpose(A) if transA] → MatMulNBits (α folded into the scales) → [Add(·, β·C) if C]
/// </code>
/// Gather and Conv weights have no MatMulNBits form: they stay float32 (recorded as skipped).
/// </summary>
internal static class MatMulNBitsEmitter
{
    /// <summary>ONNX Runtime's contrib-op domain.</summary>
    public const string Domain = "com.microsoft";

    /// <summary>Why a weight cannot take this form (a use that is not MatMul or Gemm), or null.</summary>
    public static string? Unsupported(WeightCandidate c) =>
        c.Uses.FirstOrDefault(u => u.Op is not ("MatMul" or "Gemm")) is { } other
            ? $"used by {other.Op} '{other.NodeName}': MatMulNBits replaces MatMul and Gemm only, so the weight stays float32"
            : null;

    public static EmittedTensor Emit(EmitContext ctx, WeightCandidate c, LayoutGroup group, MatMulNBitsWeight w, MatMulNBitsOptions options)
    {
        var home = c.Constant.Graph.Proto;
        string codes = ctx.Name(c.Name + ".nbits_codes");
        ctx.AddInitializer(home, codes, TensorElementType.UInt8, [w.N, w.BlocksPerRow, w.BlockSize / 2], w.Codes);
        long bytes = w.Codes.LongLength;
        string? zeroPoints = null;
        if (w.ZeroPoints is { } zp)
        {
            zeroPoints = ctx.Name(c.Name + ".nbits_zero_points");
            ctx.AddInitializer(home, zeroPoints, TensorElementType.UInt8, [w.N, w.ZeroPointBytesPerRow], zp);
            bytes += zp.LongLength;
        }
        // One scales initializer per distinct Gemm alpha (1 for MatMul), the first one named in the record.
        var scalesByAlpha = new Dictionary<float, string>();
        var notes = new List<string>();
        foreach (var use in group.Uses)
        {
            var node = use.Node;
            float alpha = use.Op == "Gemm" ? WeightFinder.GetFloat(node, "alpha", 1f) : 1f;
            if (!scalesByAlpha.TryGetValue(alpha, out string? scales))
            {
                scales = AddScales(ctx, home, c.Name + (alpha == 1f ? ".nbits_scales" : ".nbits_scales_alpha"), w, alpha);
                scalesByAlpha[alpha] = scales;
                bytes += 4L * w.Scales.LongLength;
                if (alpha != 1f) notes.Add($"Gemm '{use.NodeName}': alpha {alpha} is folded into the scales");
            }
            string a = node.Input[0];
            if (use.Op == "Gemm")
            {
                a = GemmEdits.TransposeA(ctx, use.Graph.Proto, node);
                if (GemmEdits.AddCAfter(ctx, use.Graph.Proto, node)) notes.Add($"Gemm '{use.NodeName}': C is added by a following Add");
            }
            node.OpType = "MatMulNBits";
            node.Domain = Domain;
            node.Input.Clear();
            node.Input.AddRange(zeroPoints is null ? [a, codes, scales] : [a, codes, scales, zeroPoints]);
            node.Attribute.Clear();
            node.Attribute.AddRange([GraphEdits.Int("K", w.K), GraphEdits.Int("N", w.N), GraphEdits.Int("bits", MatMulNBitsPacker.Bits),
                GraphEdits.Int("block_size", w.BlockSize), GraphEdits.Int("accuracy_level", options.AccuracyLevel)]);
        }
        return new EmittedTensor(codes, scalesByAlpha.Values.First(), null, bytes, notes) { ZeroPoints = zeroPoints };
    }

    private static string AddScales(EmitContext ctx, GraphProto home, string hint, MatMulNBitsWeight w, float alpha)
    {
        var scales = alpha == 1f ? w.Scales : w.Scales.Select(s => s * alpha).ToArray();
        string name = ctx.Name(hint);
        ctx.AddInitializer(home, name, TensorElementType.Float, [w.N, w.BlocksPerRow], System.Runtime.InteropServices.MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        return name;
    }
}
