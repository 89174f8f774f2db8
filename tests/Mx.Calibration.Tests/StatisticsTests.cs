using Mx.Calibration.Data;
using Mx.Calibration.Statistics;
using Mx.Onnx;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Tests.Common;

namespace Mx.Calibration.Tests;

/// <summary>Streaming statistics: they equal a direct computation over the same data, and their memory stays bounded.</summary>
public class StatisticsTests
{
    [Test]
    public void TensorStatisticsEqualADirectComputation()
    {
        var rng = new Random(7);
        const int k = 40;
        var stats = new TensorStatistics("x", k, blockSize: 32, reservoirCapacity: 16);
        var all = new List<float[]>(); // rows, for the direct computation
        for (int t = 0; t < 6; t++)
        {
            // [2, 40, 3]: channels on axis 1, as a Conv activation.
            var data = new float[2 * k * 3];
            for (int i = 0; i < data.Length; i++) data[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-6, 6)));
            if (t == 2) data[5] = 0;
            stats.Add(data, [2, k, 3], 1);
            for (int o = 0; o < 2; o++)
                for (int i = 0; i < 3; i++)
                    all.Add(Enumerable.Range(0, k).Select(c => data[o * k * 3 + c * 3 + i]).ToArray());
        }
        Assert.That(stats.Rows, Is.EqualTo(all.Count));
        Assert.That(stats.Amax, Is.EqualTo(all.Max(r => r.Max(Math.Abs))));
        for (int c = 0; c < k; c++) Assert.That(stats.ChannelAmax[c], Is.EqualTo(all.Max(r => Math.Abs(r[c]))), $"channel {c}");
        var sorted = all.SelectMany(r => r).Select(Math.Abs).Order().ToArray();
        foreach (double p in new[] { 0.01, 0.5, 0.9, 0.99, 1.0 })
        {
            float exact = sorted[Math.Max(1, (int)Math.Ceiling(p * sorted.Length)) - 1];
            double h = stats.Values.Percentile(p)!.Value;
            Assert.That(h, Is.GreaterThanOrEqualTo(exact).And.LessThanOrEqualTo(exact * Math.Pow(2, 1.0 / Log2Histogram.BinsPerOctave) * (1 + 1e-9)), $"p{p}");
        }
        // Block amax: blocks [0, 32) and [32, 40) of every row.
        var blocks = all.SelectMany(r => new[] { r.Take(32).Max(Math.Abs), r.Skip(32).Max(Math.Abs) }).ToArray();
        Assert.That(stats.BlockAmax.Count, Is.EqualTo(blocks.Length));
        for (int b = 0; b < stats.BlockAmax.Bins.Length; b++)
            Assert.That(stats.BlockAmax.Bins[b], Is.EqualTo(blocks.Count(x => x > 0 && Log2Histogram.BinOf(x) == b)), $"block-amax bin {b}");
        Assert.That(stats.Reservoir.Rows, Has.Count.EqualTo(16));
        foreach (var row in stats.Reservoir.Rows) Assert.That(all.Any(r => r.SequenceEqual(row)), "a reservoir row is one of the rows added");
    }

    [Test]
    public void ReservoirIsBoundedAndUniform()
    {
        const int n = 1000, capacity = 50, runs = 200;
        var hits = new int[n];
        for (int seed = 0; seed < runs; seed++)
        {
            var r = new RowReservoir(capacity, 1, seed);
            for (int i = 0; i < n; i++)
            {
                r.Offer([i]);
                Assert.That(r.Rows.Count, Is.LessThanOrEqualTo(capacity));
            }
            foreach (var row in r.Rows) hits[(int)row[0]]++;
        }
        // Each row is kept with probability capacity/n = 0.05: every decile of the stream gets about a tenth.
        double expected = runs * capacity / 10.0;
        for (int d = 0; d < 10; d++)
        {
            int got = hits.Skip(d * 100).Take(100).Sum();
            Assert.That(got, Is.InRange(expected * 0.85, expected * 1.15), $"decile {d}: {got} of about {expected}");
        }
    }

    [Test]
    public void CollectorMatchesTheActivationsAndStaysBoundedOver1000Samples()
    {
        using var model = OnnxModel.Load(TestPaths.TestModel("mlp_outliers.onnx"));
        var sites = ActivationSite.Find(model);
        Assert.That(sites, Has.Count.EqualTo(2));
        var inputs = ModelInputs.Of(model);
        long[] shape = inputs[0].Shape.Select(d => d < 0 ? 1 : d).ToArray();
        IEnumerable<IReadOnlyDictionary<string, HostTensor>> Stream()
        {
            var rng = new Random(3);
            for (int s = 0; s < 1000; s++)
            {
                var x = new float[HostTensor.ElementCountOf(shape)];
                for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                yield return new Dictionary<string, HostTensor> { [inputs[0].Name] = HostTensor.FromFloats(x, shape) };
            }
        }
        var stats = StatisticsCollector.Collect(model, CalibrationDataReaders.FromEnumerable(Stream()), sites, new StatisticsOptions { ReservoirCapacity = 64 });
        Assert.That(stats.Samples, Is.EqualTo(1000));

        // Direct computation: every site's activation as an output of a plainly edited copy, all samples at once.
        using var copy = OnnxModel.FromBytes(model.ToBytes());
        foreach (var s in sites.Where(s => copy.Proto.Graph.Input.All(i => i.Name != s.Activation)))
            copy.Proto.Graph.Output.Add(new ValueInfoProto { Name = s.Activation, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        using var session = TestModels.Session(copy);
        foreach (var site in sites)
        {
            var st = stats.Activations[site.Weight];
            Assert.That(st.Tensors, Is.EqualTo(1000));
            Assert.That(st.Reservoir.Rows, Has.Count.EqualTo(64));
            var amax = new float[st.K];
            foreach (var sample in Stream())
            {
                float[] v = copy.Proto.Graph.Input.Any(i => i.Name == site.Activation)
                    ? sample[site.Activation].ToFloatArray()
                    : session.Run(sample, [site.Activation])[0].ToFloatArray();
                for (int i = 0; i < v.Length; i++) amax[i % st.K] = Math.Max(amax[i % st.K], Math.Abs(v[i]));
            }
            // The collector's session does not pre-pack weights (calibration sessions never do), so ORT's MatMul sums in
            // another order than this session's: equal to float32 rounding.
            Assert.That(st.ChannelAmax.ToArray(), Is.EqualTo(amax).Within(1e-4).Percent, site.Weight);
            Assert.That(st.Amax, Is.EqualTo(amax.Max()).Within(1e-4).Percent);
        }
        // Weight statistics: fc1's planted outlier input channels show up as outlier channels.
        Assert.That(stats.Weights["fc1.weight"].OutlierChannels(4), Is.EqualTo(new[] { 5, 40, 101 }));
    }
}
