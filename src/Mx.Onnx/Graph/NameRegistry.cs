using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.Graph;

/// <summary>Every name used in a model, so that new values and nodes get names that clash with nothing.</summary>
internal sealed class NameRegistry
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    /// <summary>Collects the names of values, nodes, initializers and graphs in every graph, subgraph and function.</summary>
    public static NameRegistry Of(ModelProto model)
    {
        var r = new NameRegistry();
        foreach (var g in ModelWalker.AllGraphs(model))
        {
            r.Reserve(g.Name);
            foreach (var v in g.Input.Concat(g.Output).Concat(g.ValueInfo)) r.Reserve(v.Name);
            foreach (var t in g.Initializer) r.Reserve(t.Name);
            foreach (var s in g.SparseInitializer) r.Reserve(s.Values?.Name);
            foreach (var n in g.Node) r.AddNode(n);
        }
        foreach (var f in model.Functions)
        {
            foreach (var name in f.Input.Concat(f.Output)) r.Reserve(name);
            foreach (var n in f.Node) r.AddNode(n);
        }
        return r;
    }

    public void Reserve(string? name)
    {
        if (!string.IsNullOrEmpty(name)) _used.Add(name);
    }

    public bool IsUsed(string name) => _used.Contains(name);

    /// <summary><paramref name="hint"/> if unused, else the first free <c>hint_N</c>; the result is reserved.</summary>
    public string Create(string hint)
    {
        if (string.IsNullOrEmpty(hint)) hint = "value";
        string name = hint;
        for (int i = 1; _used.Contains(name); i++) name = $"{hint}_{i}";
        _used.Add(name);
        return name;
    }

    private void AddNode(NodeProto n)
    {
        Reserve(n.Name);
        foreach (var v in n.Input) Reserve(v);
        foreach (var v in n.Output) Reserve(v);
    }
}
