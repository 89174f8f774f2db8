using Mx.Onnx.Proto;

namespace Mx.Onnx.Quantization;

/// <summary>The parts of a Gemm that an op without Gemm's attributes cannot take, moved into the graph around it.</summary>
internal static class GemmEdits
{
    /// <summary>A with <c>transA</c> applied: the node's input 0 itself, or a Transpose of it inserted before the node.</summary>
    public static string TransposeA(EmitContext ctx, GraphProto graph, NodeProto gemm)
    {
        string a = gemm.Input[0];
        if (WeightFinder.GetInt(gemm, "transA", 0) == 0) return a;
        string transposed = ctx.Name(a + ".transposed");
        GraphEdits.InsertBefore(graph, gemm, GraphEdits.Node("Transpose", ctx.Name(gemm.Name + "_transA"), [a], [transposed], "", GraphEdits.Ints("perm", [1, 0])));
        return transposed;
    }

    /// <summary>
    /// Moves Gemm's C (when present) after the node: the node now writes a new value, and an inserted
    /// <c>Add(·, β·C)</c> (a Mul by β when β ≠ 1) writes the Gemm's output, broadcasting C as Gemm does.
    /// </summary>
    /// <returns>Whether the node had a C.</returns>
    public static bool AddCAfter(EmitContext ctx, GraphProto graph, NodeProto gemm)
    {
        if (gemm.Input.Count <= 2 || gemm.Input[2].Length == 0) return false;
        AddAfter(ctx, graph, gemm, gemm.Input[2], WeightFinder.GetFloat(gemm, "beta", 1f));
        return true;
    }

    /// <summary><c>Y = node(...) + β·<paramref name="c"/></c>, with Y the node's output name.</summary>
    public static void AddAfter(EmitContext ctx, GraphProto graph, NodeProto node, string c, float beta)
    {
        string output = node.Output[0];
        string product = ctx.Name(output + ".mx_product");
        node.Output[0] = product;
        var add = GraphEdits.Node("Add", ctx.Name(node.Name + "_bias"), [product, c], [output]);
        GraphEdits.InsertAfter(graph, node, add);
        if (beta == 1f) return;
        string scaled = ctx.Name(c + ".scaled");
        string betaName = ctx.AddFloatScalar(graph, node.Name + "_beta", beta).Name;
        GraphEdits.InsertBefore(graph, add, GraphEdits.Node("Mul", ctx.Name(node.Name + "_beta_mul"), [c, betaName], [scaled]));
        add.Input[1] = scaled;
    }
}
