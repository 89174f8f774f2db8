using Mx.Calibration.Data;
using Mx.Calibration.Sparsity;
using Mx.Onnx;
using Mx.Runtime.Ort;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests.Sparsity;

/// <summary>
/// PIT-style equivalent reordering: the permutable MLPs are found (ReLU with a bias, SwiGLU), the reordered model
/// computes the same outputs as the original, and the block density of the hidden tensor does not rise.
/// </summary>
public class ChannelReorderingTests
{
    [Test]
    public void FindsTheReluAndSwiGluMlps()
    {
        using var relu = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var g = MlpChannelGroup.Find(relu).Single();
        Assert.That((g.DownWeight, g.Hidden, g.Size), Is.EqualTo(("fc2.weight", "h1r", 256)));
        Assert.That(g.Producers, Is.EqualTo(new[] { "fc1.weight" }));
        Assert.That(g.Constants.Select(c => c.Name), Is.EqualTo(new[] { "fc1.bias" }));

        using var swiglu = OnnxModel.Load(TestPaths.TestModel("transformer_block.onnx"));
        var s = MlpChannelGroup.Find(swiglu).Single();
        Assert.That((s.DownWeight, s.Hidden, s.Size), Is.EqualTo(("mlp.w2", "swiglu", 172)));
        Assert.That(s.Producers, Is.EquivalentTo(new[] { "mlp.w1", "mlp.w3" }));
    }

    [TestCase("mlp_outliers.onnx")]
    [TestCase("transformer_block.onnx")]
    public void ReorderedModelComputesTheSameFunction(string file)
    {
        using var model = OnnxModel.Load(TestPaths.TestModel(file));
        var samples = new CalibrationSamples(RandomSamples.Create(ModelInputs.Of(model), 6, seed: 3), "test", true);
        float[][] before = Outputs(model, samples);
        var group = MlpChannelGroup.Find(model).Single();
        var rows = HiddenActivations.Capture(model, [group], samples)[0];
        var plan = ChannelReordering.Plan(group, rows, threshold: 0.05f);
        Assert.That(plan.Permutation, Is.Not.EqualTo(Enumerable.Range(0, group.Size)), "a non-trivial permutation");
        Assert.That(plan.DensityAfter, Is.LessThanOrEqualTo(plan.DensityBefore));
        ChannelReordering.Apply(model, plan);
        float[][] after = Outputs(model, samples);
        for (int i = 0; i < before.Length; i++)
            for (int j = 0; j < before[i].Length; j++)
                Assert.That(after[i][j], Is.EqualTo(before[i][j]).Within(1e-5 * Math.Max(1, Math.Abs(before[i][j]))), $"sample {i}, value {j}");
        // The permuted hidden tensor is the original one with its channels reordered.
        var permuted = HiddenActivations.Capture(model, MlpChannelGroup.Find(model), samples)[0];
        for (int r = 0; r < rows.Length / group.Size; r++)
            for (int c = 0; c < group.Size; c++)
                Assert.That(permuted[r * group.Size + c], Is.EqualTo(rows[r * group.Size + plan.Permutation[c]]).Within(1e-5f));
    }

    [Test]
    public void BlockDensityCountsBlocksWithAnActiveChannel()
    {
        // 2 rows × 64 channels: row 0 active in channels 0 and 40, row 1 only in channel 63.
        var h = new float[128];
        h[0] = 1; h[40] = -2; h[64 + 63] = 0.5f;
        Assert.That(ChannelReordering.BlockDensity(h, 64, null), Is.EqualTo(3.0 / 4));
        int[] together = [0, 40, 63, .. Enumerable.Range(1, 63).Where(c => c != 40 && c != 63)];
        Assert.That(ChannelReordering.BlockDensity(h, 64, together), Is.EqualTo(2.0 / 4));
        Assert.That(ChannelReordering.BlockDensity(h, 64, null, threshold: 1.5f), Is.EqualTo(1.0 / 4));
    }

    private static float[][] Outputs(OnnxModel model, CalibrationSamples samples)
    {
        using var options = HostTensorSession.CreateOptions();
        using var s = HostTensorSession.FromBytes(model.ToBytes(), options);
        string output = s.Outputs[0].Name;
        return samples.Samples.Select(x => s.Run(x, [output])[0].ToFloatArray()).ToArray();
    }
}
