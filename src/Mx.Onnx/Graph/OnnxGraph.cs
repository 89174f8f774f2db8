using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.Graph;

/// <summary>A subgraph held in a node attribute: <paramref name="Attribute"/> (and <paramref name="Index"/> for GRAPHS).</summary>
public sealed record Subgraph(NodeProto Node, string Attribute, int Index, OnnxGraph Graph);

/// <summary>
/// An indexed view of one graph for analysis and rewriting: who produces and who consumes each value, which values
/// are constants, a topological order, and the subgraphs of control-flow nodes (If, Loop, Scan) with the outer
/// scope's names visible in them. The view reads <see cref="Proto"/>; after editing the proto, call <see cref="Refresh"/>.
/// </summary>
public sealed class OnnxGraph
{
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inputs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _outputs = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, List<Subgraph>> _subgraphs = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<NodeProto, HashSet<string>> _implicitInputs = new(ReferenceEqualityComparer.Instance);

    internal OnnxGraph(OnnxModel model, GraphProto proto, OnnxGraph? parent)
    {
        Model = model;
        Proto = proto;
        Parent = parent;
        Refresh();
    }

    /// <summary>The model the graph belongs to (for reading tensor data).</summary>
    public OnnxModel Model { get; }

    /// <summary>The graph's protobuf.</summary>
    public GraphProto Proto { get; }

    /// <summary>The enclosing graph, for a subgraph; null for the main graph.</summary>
    public OnnxGraph? Parent { get; }

    /// <summary>The nodes, in stored order.</summary>
    public IReadOnlyList<NodeProto> Nodes => Proto.Node;

    /// <summary>Rebuilds the indexes from <see cref="Proto"/> (and those of the subgraphs).</summary>
    /// <exception cref="OnnxFormatException">Two nodes produce the same value.</exception>
    public void Refresh()
    {
        _producers.Clear();
        _consumers.Clear();
        _initializers.Clear();
        _inputs.Clear();
        _outputs.Clear();
        _subgraphs.Clear();
        _implicitInputs.Clear();
        foreach (var t in Proto.Initializer) _initializers.TryAdd(t.Name, t);
        foreach (var v in Proto.Input) _inputs.Add(v.Name);
        foreach (var v in Proto.Output) _outputs.Add(v.Name);
        foreach (var node in Proto.Node)
        {
            foreach (string output in node.Output)
            {
                if (output.Length == 0) continue;
                if (!_producers.TryAdd(output, node))
                    throw new OnnxFormatException($"{Model.Source}: graph '{Proto.Name}': value '{output}' is produced by two nodes, '{_producers[output].Name}' ({_producers[output].OpType}) and '{node.Name}' ({node.OpType})");
            }
            var subs = new List<Subgraph>();
            foreach (var a in node.Attribute)
            {
                if (a.G != null) subs.Add(new Subgraph(node, a.Name, 0, new OnnxGraph(Model, a.G, this)));
                for (int i = 0; i < a.Graphs.Count; i++) subs.Add(new Subgraph(node, a.Name, i, new OnnxGraph(Model, a.Graphs[i], this)));
            }
            _subgraphs[node] = subs;
            var implicitInputs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in subs) implicitInputs.UnionWith(s.Graph.OuterScopeNames());
            _implicitInputs[node] = implicitInputs;
            foreach (string input in node.Input.Where(i => i.Length > 0).Concat(implicitInputs).Distinct())
            {
                if (!_consumers.TryGetValue(input, out var list)) _consumers[input] = list = [];
                list.Add(node);
            }
        }
    }

    /// <summary>The node that produces <paramref name="value"/> in this graph, or null (graph input, initializer, outer scope).</summary>
    public NodeProto? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>
    /// The nodes of this graph that use <paramref name="value"/>: as a direct input, or inside one of their subgraphs
    /// (an implicit input). Each node appears once.
    /// </summary>
    public IReadOnlyList<NodeProto> Consumers(string value) => _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>Whether <paramref name="value"/> is an input of this graph.</summary>
    public bool IsInput(string value) => _inputs.Contains(value);

    /// <summary>Whether <paramref name="value"/> is an output of this graph.</summary>
    public bool IsOutput(string value) => _outputs.Contains(value);

    /// <summary>This graph's initializer named <paramref name="name"/>, or null.</summary>
    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>
    /// Whether an initializer is overridden by a graph input of the same name, so its value is only a default and not
    /// a constant (from IR version 4, when initializers no longer have to be inputs).
    /// </summary>
    public bool IsOverriddenByInput(string initializerName) =>
        Model.Proto.IrVersion >= 4 && _initializers.ContainsKey(initializerName) && _inputs.Contains(initializerName);

    /// <summary>Whether this graph defines <paramref name="value"/> (input, initializer or node output).</summary>
    public bool Defines(string value) => _inputs.Contains(value) || _initializers.ContainsKey(value) || _producers.ContainsKey(value);

    /// <summary>
    /// The constant behind <paramref name="value"/>, looked up in this graph and then in the enclosing ones (the
    /// nearest definition wins); null when the value is not a constant.
    /// </summary>
    public ConstantValue? FindConstant(string value)
    {
        for (var g = this; g != null; g = g.Parent)
        {
            if (!g.Defines(value)) continue;
            if (g._initializers.TryGetValue(value, out var init) && !g.IsOverriddenByInput(value))
                return new ConstantValue(value, ConstantSource.Initializer, init, null, g);
            if (g._producers.TryGetValue(value, out var node) && node.OpType == "Constant" && node.Domain is "" or "ai.onnx")
                return ConstantValue.TensorOfConstantNode(node) is { } t ? new ConstantValue(value, ConstantSource.ConstantNode, t, node, g) : null;
            return null;
        }
        return null;
    }

    /// <summary>Whether <paramref name="value"/> is a constant (see <see cref="FindConstant"/>).</summary>
    public bool IsConstant(string value) => FindConstant(value) != null;

    /// <summary>The subgraphs in a node's attributes (GRAPH and GRAPHS), each a view whose parent is this graph.</summary>
    public IReadOnlyList<Subgraph> Subgraphs(NodeProto node) => _subgraphs.TryGetValue(node, out var s) ? s : [];

    /// <summary>Names from outside a node that its subgraphs use (its implicit inputs).</summary>
    public IReadOnlyCollection<string> ImplicitInputs(NodeProto node) => _implicitInputs.TryGetValue(node, out var s) ? s : [];

    /// <summary>This graph and, recursively, all of its subgraphs.</summary>
    public IEnumerable<OnnxGraph> SelfAndDescendants()
    {
        yield return this;
        foreach (var subs in _subgraphs.Values)
        foreach (var s in subs)
        foreach (var g in s.Graph.SelfAndDescendants())
            yield return g;
    }

    /// <summary>
    /// The nodes in an order where every node comes after the producers of its inputs (stored order where it
    /// already is one).
    /// </summary>
    /// <exception cref="OnnxFormatException">The nodes form a cycle; the message names a node on it.</exception>
    public IReadOnlyList<NodeProto> TopologicalOrder() => TopologicalSort.Sort(this);

    /// <summary>Names this graph's nodes (and its subgraphs) use that it does not define: they come from outer scopes.</summary>
    internal IEnumerable<string> OuterScopeNames()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in Proto.Node)
        foreach (string input in node.Input.Concat(_implicitInputs.GetValueOrDefault(node) ?? []))
            if (input.Length > 0 && !Defines(input))
                result.Add(input);
        foreach (var v in Proto.Output)
            if (!Defines(v.Name)) result.Add(v.Name);
        return result;
    }
}
