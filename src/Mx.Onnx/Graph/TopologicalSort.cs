using Mx.Onnx.Proto;

namespace Mx.Onnx.Graph;

/// <summary>Kahn's algorithm over one graph, preferring stored order so already-sorted graphs come back unchanged.</summary>
internal static class TopologicalSort
{
    public static IReadOnlyList<NodeProto> Sort(OnnxGraph graph)
    {
        var nodes = graph.Nodes;
        var index = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < nodes.Count; i++) index[nodes[i]] = i;
        var pending = new int[nodes.Count];
        var dependents = new List<int>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++) dependents[i] = [];
        for (int i = 0; i < nodes.Count; i++)
        {
            var deps = new HashSet<int>();
            foreach (string input in nodes[i].Input.Concat(graph.ImplicitInputs(nodes[i])))
                if (input.Length > 0 && graph.Producer(input) is { } p) deps.Add(index[p]);
            pending[i] = deps.Count;
            foreach (int d in deps) dependents[d].Add(i);
        }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < nodes.Count; i++)
            if (pending[i] == 0) ready.Enqueue(i, i);
        var order = new List<NodeProto>(nodes.Count);
        while (ready.TryDequeue(out int i, out _))
        {
            order.Add(nodes[i]);
            foreach (int d in dependents[i])
                if (--pending[d] == 0) ready.Enqueue(d, d);
        }
        if (order.Count == nodes.Count) return order;
        // Walk back through unfinished producers until a node repeats: that node lies on a cycle.
        var seen = new HashSet<int>();
        int at = Enumerable.Range(0, nodes.Count).First(i => pending[i] > 0);
        string via = "";
        while (seen.Add(at))
        {
            var n = nodes[at];
            via = n.Input.Concat(graph.ImplicitInputs(n)).First(v => v.Length > 0 && graph.Producer(v) is { } p && pending[index[p]] > 0);
            at = index[graph.Producer(via)!];
        }
        var node = nodes[at];
        throw new OnnxFormatException($"{graph.Model.Source}: graph '{graph.Proto.Name}' has a cycle through node '{node.Name}' ({node.OpType}) and value '{via}'");
    }
}
