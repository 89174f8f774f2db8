using System.Text.Json;
using Mx.Onnx.Proto;
using Mx.Tests.Common;

namespace Mx.Cli.Tests;

public class InspectCommandTests : CliTest
{
    public static IEnumerable<TestCaseData> Models()
    {
        string? shared = TestPaths.SharedDir;
        if (shared != null)
            foreach (string dir in Directory.GetDirectories(Path.Combine(shared, "models")).Order(StringComparer.Ordinal))
                if (File.Exists(Path.Combine(dir, "model.onnx")))
                    yield return new TestCaseData(Path.Combine(dir, "model.onnx")).SetArgDisplayNames("shared/" + Path.GetFileName(dir));
        string testModels = Path.Combine(TestPaths.RepoRoot, "testmodels");
        foreach (string f in Directory.GetFiles(testModels, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            yield return new TestCaseData(f).SetArgDisplayNames("testmodels/" + Path.GetRelativePath(testModels, f));
    }


    // Counted straight from the protobuf, without the library's graph walker.
    private static void CountOps(GraphProto g, Dictionary<string, int> counts)
    {
        foreach (var n in g.Node)
        {
            string key = n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}:{n.OpType}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            foreach (var a in n.Attribute)
            {
                if (a.G != null) CountOps(a.G, counts);
                foreach (var sub in a.Graphs) CountOps(sub, counts);
            }
        }
    }

    // Nodes of a graph and, recursively, of the subgraphs in their attributes (weights may be used inside If branches).
    private static IEnumerable<NodeProto> AllNodes(GraphProto g) =>
        g.Node.Concat(g.Node.SelectMany(n => n.Attribute).SelectMany(a => (a.G is null ? a.Graphs : a.Graphs.Append(a.G))).SelectMany(AllNodes));

    [TestCaseSource(nameof(Models))]
    public void JsonCountsMatchTheProtobuf(string path)
    {
        var (code, output, error) = Mx("inspect", path, "--json");
        Assert.That(code, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

        var expectedOps = new Dictionary<string, int>();
        CountOps(proto.Graph, expectedOps);
        var actualOps = root.GetProperty("op_counts").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.That(actualOps, Is.EquivalentTo(expectedOps));
        Assert.That(root.GetProperty("ir_version").GetInt64(), Is.EqualTo(proto.IrVersion));

        var inits = proto.Graph.Initializer;
        long bytesPerElement(TensorProto t) => t.DataType switch { 1 or 6 or 12 => 4, 7 or 11 or 13 => 8, 10 or 16 or 4 or 5 => 2, _ => 1 };
        long elements(IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);
        if (proto.Graph.Node.All(n => n.Attribute.All(a => a.G == null && a.Graphs.Count == 0)))
            Assert.That(root.GetProperty("initializer_bytes").GetInt64(), Is.EqualTo(inits.Sum(t => elements(t.Dims) * bytesPerElement(t))));

        var constants = inits.Select(t => t.Name).ToHashSet();
        var constantNodes = AllNodes(proto.Graph).Where(n => n.OpType == "Constant").SelectMany(n => n.Output).ToHashSet();
        var weightSlot = new Dictionary<string, int> { ["MatMul"] = 1, ["Gemm"] = 1, ["Conv"] = 1, ["Gather"] = 0 };
        foreach (var q in root.GetProperty("quantizable").EnumerateArray())
        {
            string name = q.GetProperty("name").GetString()!;
            string op = q.GetProperty("op").GetString()!;
            Assert.That(constants.Contains(name) || constantNodes.Contains(name), $"{name} is an initializer or a Constant output");
            Assert.That(AllNodes(proto.Graph).Any(n => n.OpType == op && n.Input.Count > weightSlot[op] && n.Input[weightSlot[op]] == name), $"{name} feeds the weight input of a {op}");
            var shape = q.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (q.GetProperty("type").GetString() == "float")
                Assert.That(q.GetProperty("bytes").GetInt64(), Is.EqualTo(elements(shape) * 4), name);
        }
        // Every Conv and MatMul with an initializer weight is listed.
        var listed = root.GetProperty("quantizable").EnumerateArray().Select(q => q.GetProperty("name").GetString()).ToHashSet();
        foreach (var n in AllNodes(proto.Graph).Where(n => n.OpType is "Conv" or "MatMul" or "Gemm" && n.Input.Count > 1))
            if (inits.FirstOrDefault(t => t.Name == n.Input[1]) is { DataType: 1 } && !proto.Graph.Input.Any(i => i.Name == n.Input[1]))
                Assert.That(listed, Does.Contain(n.Input[1]), $"{n.OpType} {n.Name}");
    }

    [Test]
    public void SqueezenetConvCountMatchesTheManifest()
    {
        string path = TestPaths.Shared("models", "squeezenet1.1", "model.onnx");
        string manifest = File.ReadAllText(TestPaths.Shared("models", "MANIFEST.md"));
        var m = System.Text.RegularExpressions.Regex.Match(manifest, @"`squeezenet1\.1/`.*?Conv ×(\d+)");
        Assert.That(m.Success, "MANIFEST.md lists squeezenet's Conv count");
        var (code, output, error) = Mx("inspect", path, "--json");
        Assert.That(code, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        Assert.That(json.RootElement.GetProperty("op_counts").GetProperty("Conv").GetInt32(), Is.EqualTo(int.Parse(m.Groups[1].Value)));
    }

    [Test]
    public void SharedWeightIsListedOnceWithTwoUses()
    {
        var (code, output, error) = Mx("inspect", TestPaths.TestModel("shared_weight.onnx"), "--json");
        Assert.That(code, Is.Zero, error);
        using var json = JsonDocument.Parse(output);
        var q = json.RootElement.GetProperty("quantizable").EnumerateArray().ToList();
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(TestPaths.TestModel("shared_weight.onnx")));
        string weight = proto.Graph.Initializer.Single().Name;
        Assert.That(q.Select(e => e.GetProperty("name").GetString()), Is.EqualTo(new[] { weight }));
        Assert.That(q[0].GetProperty("uses").GetInt32(), Is.EqualTo(proto.Graph.Node.Count(n => n.OpType == "MatMul" && n.Input[1] == weight)));
    }

    [Test]
    public void TextReportNamesInputsOutputsAndOperators()
    {
        string path = TestPaths.TestModel("convnet.onnx");
        var (code, output, error) = Mx("inspect", path);
        Assert.That(code, Is.Zero, error);
        Assert.That(error, Is.Empty);
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        foreach (var v in proto.Graph.Input.Concat(proto.Graph.Output)) Assert.That(output, Does.Contain(v.Name));
        foreach (var n in proto.Graph.Node) Assert.That(output, Does.Contain(n.OpType));
        foreach (var t in proto.Graph.Initializer.Where(t => t.Name.Contains("weight"))) Assert.That(output, Does.Contain(t.Name));
    }

    [Test]
    public void BadFileGivesOneErrorLine()
    {
        string dir = Path.Combine(Path.GetTempPath(), "mx-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string bad = Path.Combine(dir, "bad.onnx");
            File.WriteAllBytes(bad, File.ReadAllBytes(TestPaths.TestModel("convnet.onnx"))[..1000]);
            foreach (string path in new[] { bad, Path.Combine(dir, "missing.onnx") })
            {
                var (code, output, error) = Mx("inspect", path, "--json");
                Assert.That(code, Is.Not.Zero);
                Assert.That(output, Is.Empty);
                var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.That(lines, Has.Length.EqualTo(1), error);
                Assert.That(lines[0], Does.StartWith("mx inspect:").And.Contain(Path.GetFileName(path)));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
