using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Tests.Common;

namespace Mx.Onnx.Tests;

public class GraphTests
{
    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.All))]
    public void ProducersAndConsumersMatchTheNodes(string path)
    {
        using var model = OnnxModel.Load(path);
        foreach (var graph in model.Graph.SelfAndDescendants())
        foreach (var node in graph.Nodes)
        {
            foreach (string output in node.Output.Where(o => o.Length > 0))
                Assert.That(graph.Producer(output), Is.SameAs(node));
            foreach (string input in node.Input.Where(i => i.Length > 0))
                Assert.That(graph.Consumers(input), Does.Contain(node));
        }
    }

    [TestCaseSource(typeof(ModelFiles), nameof(ModelFiles.All))]
    public void TopologicalOrderPutsProducersFirstEvenAfterShuffling(string path)
    {
        using var model = OnnxModel.Load(path);
        var nodes = model.Proto.Graph.Node.ToList();
        var shuffled = nodes.OrderBy(_ => Random.Shared.Next()).ToList();
        model.Proto.Graph.Node.Clear();
        model.Proto.Graph.Node.AddRange(shuffled);
        model.Refresh();
        var order = model.Graph.TopologicalOrder();
        Assert.That(order, Is.EquivalentTo(nodes));
        var position = new Dictionary<NodeProto, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < order.Count; i++) position[order[i]] = i;
        foreach (var node in order)
        foreach (string input in node.Input.Concat(model.Graph.ImplicitInputs(node)))
            if (input.Length > 0 && model.Graph.Producer(input) is { } p)
                Assert.That(position[p], Is.LessThan(position[node]), $"'{p.Name}' must come before '{node.Name}'");
    }

    [Test]
    public void StoredOrderIsKeptWhenAlreadySorted()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("transformer_block.onnx"));
        Assert.That(model.Graph.TopologicalOrder(), Is.EqualTo(model.Proto.Graph.Node));
    }

    [Test]
    public void CycleIsReported()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("shared_weight.onnx"));
        // Feed the last output back into the first node.
        var first = model.Proto.Graph.Node[0];
        first.Input[0] = model.Proto.Graph.Node[^1].Output[0];
        model.Refresh();
        var ex = Assert.Throws<OnnxFormatException>(() => model.Graph.TopologicalOrder());
        Assert.That(ex!.Message, Does.Contain("cycle"));
    }

    [Test]
    public void OpsetsPerDomain()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("convnet.onnx"));
        model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        Assert.That(model.OpsetVersion(""), Is.EqualTo(model.Proto.OpsetImport[0].Version));
        Assert.That(model.OpsetVersion("ai.onnx"), Is.EqualTo(model.Proto.OpsetImport[0].Version));
        Assert.That(model.OpsetVersion("com.microsoft"), Is.EqualTo(1));
        Assert.That(model.OpsetVersion("com.example"), Is.Null);
    }

    /// <summary>shared_weight.onnx with its second MatMul moved into the then-branch of an If.</summary>
    private static OnnxModel WithIf()
    {
        var model = OnnxModel.Load(TestPaths.TestModel("shared_weight.onnx"));
        var g = model.Proto.Graph;
        var second = g.Node[^1];
        g.Node.RemoveAt(g.Node.Count - 1);
        var thenBranch = new GraphProto { Name = "then_branch" };
        thenBranch.Node.Add(second);
        thenBranch.Output.Add(new ValueInfoProto { Name = second.Output[0] });
        var elseBranch = new GraphProto { Name = "else_branch" };
        elseBranch.Node.Add(new NodeProto { OpType = "Identity", Name = "else_identity", Input = { "hr" }, Output = { "else_out" } });
        elseBranch.Output.Add(new ValueInfoProto { Name = "else_out" });
        g.Initializer.Add(TensorFactory.FromRaw("cond", Mx.Runtime.TensorElementType.Bool, [], [1]));
        var ifNode = new NodeProto { OpType = "If", Name = "branch", Input = { "cond" }, Output = { "y" } };
        ifNode.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
        ifNode.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
        g.Node.Add(ifNode);
        model.Refresh();
        return model;
    }

    [Test]
    public void SubgraphsSeeOuterScopeNames()
    {
        using var model = WithIf();
        var ifNode = model.Graph.Nodes.Single(n => n.OpType == "If");
        var subs = model.Graph.Subgraphs(ifNode);
        Assert.That(subs.Select(s => s.Attribute), Is.EquivalentTo(new[] { "then_branch", "else_branch" }));
        var then = subs.Single(s => s.Attribute == "then_branch").Graph;
        Assert.That(then.Parent, Is.SameAs(model.Graph));
        // The weight is defined outside; the subgraph finds it as a constant of the outer graph.
        var w = then.FindConstant("shared.weight");
        Assert.That(w, Is.Not.Null);
        Assert.That(w!.Graph, Is.SameAs(model.Graph));
        // The If node consumes the outer values its branches use.
        Assert.That(model.Graph.ImplicitInputs(ifNode), Is.EquivalentTo(new[] { "hr", "shared.weight" }));
        Assert.That(model.Graph.Consumers("shared.weight"), Does.Contain(ifNode));
        Assert.That(model.Graph.Consumers("hr"), Does.Contain(ifNode));
        Assert.That(model.Graph.SelfAndDescendants().Count(), Is.EqualTo(3));
    }

    [Test]
    public void UniqueNamesAvoidEveryNameInTheModelIncludingSubgraphs()
    {
        using var model = WithIf();
        var used = new HashSet<string>();
        foreach (var g in ModelWalker.AllGraphs(model.Proto))
        {
            used.Add(g.Name);
            foreach (var n in g.Node) { used.Add(n.Name); used.UnionWith(n.Input); used.UnionWith(n.Output); }
            foreach (var t in g.Initializer) used.Add(t.Name);
            foreach (var v in g.Input.Concat(g.Output).Concat(g.ValueInfo)) used.Add(v.Name);
        }
        Assert.That(used, Does.Contain("else_out"), "the subgraph's names are part of the check");
        var created = new List<string>();
        foreach (string hint in used.Where(u => u.Length > 0).Append("else_out").Append("fresh").Append("fresh"))
            created.Add(model.UniqueName(hint));
        Assert.That(created, Is.Unique);
        Assert.That(created.Intersect(used), Is.Empty);
        Assert.That(created, Does.Contain("fresh"));
    }
}
