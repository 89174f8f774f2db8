using Mx.Onnx.Proto;

namespace Mx.Onnx.Tensors;

/// <summary>
/// Visits every graph and every tensor of a model: the main graph, subgraphs held in node attributes (If, Loop, Scan,
/// at any depth), training graphs and model-local functions.
/// </summary>
public static class ModelWalker
{
    /// <summary>Every graph in the model, the main graph first, parents before their subgraphs.</summary>
    public static IEnumerable<GraphProto> AllGraphs(ModelProto model)
    {
        var roots = new List<GraphProto>();
        if (model.Graph != null) roots.Add(model.Graph);
        foreach (var t in model.TrainingInfo)
        {
            if (t.Initialization != null) roots.Add(t.Initialization);
            if (t.Algorithm != null) roots.Add(t.Algorithm);
        }
        foreach (var g in roots)
        foreach (var sub in GraphAndSubgraphs(g))
            yield return sub;
        foreach (var f in model.Functions)
        foreach (var node in f.Node)
        foreach (var g in SubgraphsOf(node))
        foreach (var sub in GraphAndSubgraphs(g))
            yield return sub;
    }

    /// <summary><paramref name="graph"/> and, recursively, the graphs in its nodes' attributes.</summary>
    public static IEnumerable<GraphProto> GraphAndSubgraphs(GraphProto graph)
    {
        var stack = new Stack<GraphProto>();
        stack.Push(graph);
        while (stack.Count > 0)
        {
            var g = stack.Pop();
            yield return g;
            foreach (var node in g.Node)
            foreach (var sub in SubgraphsOf(node).Reverse())
                stack.Push(sub);
        }
    }

    /// <summary>The graphs directly in a node's attributes (type GRAPH or GRAPHS).</summary>
    public static IEnumerable<GraphProto> SubgraphsOf(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            if (a.G != null) yield return a.G;
            foreach (var g in a.Graphs) yield return g;
        }
    }

    /// <summary>
    /// Every tensor in the model that can carry data: initializers, sparse initializers (values and indices), tensors
    /// in node attributes (Constant values and others), in every graph and function.
    /// </summary>
    public static IEnumerable<TensorProto> AllTensors(ModelProto model)
    {
        foreach (var g in AllGraphs(model))
        {
            foreach (var t in g.Initializer) yield return t;
            foreach (var s in g.SparseInitializer)
                foreach (var t in SparseParts(s)) yield return t;
            foreach (var node in g.Node)
                foreach (var t in AttributeTensors(node)) yield return t;
        }
        foreach (var f in model.Functions)
        foreach (var node in f.Node)
        foreach (var t in AttributeTensors(node))
            yield return t;
    }

    private static IEnumerable<TensorProto> AttributeTensors(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            if (a.T != null) yield return a.T;
            foreach (var t in a.Tensors) yield return t;
            if (a.SparseTensor != null)
                foreach (var t in SparseParts(a.SparseTensor)) yield return t;
            foreach (var s in a.SparseTensors)
                foreach (var t in SparseParts(s)) yield return t;
        }
    }

    private static IEnumerable<TensorProto> SparseParts(SparseTensorProto s)
    {
        if (s.Values != null) yield return s.Values;
        if (s.Indices != null) yield return s.Indices;
    }
}
