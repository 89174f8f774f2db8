using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Formats;
using Mx.Runtime.Ort;
using Mx.Runtime.Tests.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>
/// Four threads calling Run at once on one session give the outputs of single-threaded runs, bit for bit, through
/// the managed registration and through the native op library (kernels are shared by concurrent runs and must not
/// keep per-call state).
/// </summary>
public class ConcurrentRunTests
{
    private const int Threads = 4, RunsPerThread = 25;

    private static IEnumerable<TestCaseData> Cases() =>
        from path in new[] { "managed", "library" }
        from op in new[] { "matmul-mxfp4", "matmul-mxint8-act", "gather-mx6" }
        select new TestCaseData(path, op).SetArgDisplayNames(path, op);

    [TestCaseSource(nameof(Cases))]
    public void FourThreadsOnOneSession_MatchSingleThreadedRuns(string path, string op)
    {
        var (model, makeFeeds) = Model(op);
        using var options = path == "managed" ? HostTensorSession.CreateOptions(2) : OpsLibraryTests.LibraryOptions(2);
        using var session = HostTensorSession.FromBytes(model, options);
        // Every thread runs its own inputs; the expected outputs come from the same session, one run at a time.
        var feeds = Enumerable.Range(0, Threads * RunsPerThread).Select(makeFeeds).ToArray();
        var want = feeds.Select(f => session.Run(f).Values.Single().Data).ToArray();
        var wrong = new System.Collections.Concurrent.ConcurrentBag<int>();
        var error = ConcurrentThreads.Run(Threads, t =>
        {
            for (int r = 0; r < RunsPerThread; r++)
            {
                int i = r * Threads + t;
                if (!session.Run(feeds[i]).Values.Single().Data.AsSpan().SequenceEqual(want[i])) wrong.Add(i);
            }
        });
        Assert.That(error, Is.Null);
        Assert.That(wrong, Is.Empty, "runs whose output differed from the single-threaded run");
    }

    /// <summary>The model and a maker of distinct inputs (M varies, so GEMV and GEMM paths both run).</summary>
    private static (byte[] Model, Func<int, Dictionary<string, HostTensor>> Feeds) Model(string op)
    {
        switch (op)
        {
            case "gather-mx6":
            {
                var table = new PackedMatrix(MxFormats.Mx6, rows: 64, k: 96, blockSize: 16, seed: 21);
                return (MxTensorOpsTests.GatherModel(table), i =>
                {
                    var idx = Enumerable.Range(0, 40).Select(j => (long)((i * 7 + j * 13) % 64 - 32)).ToArray();
                    return new() { ["idx"] = new HostTensor(TensorElementType.Int64, [5, 8], idx.SelectMany(BitConverter.GetBytes).ToArray()) };
                });
            }
            default:
            {
                var format = op == "matmul-mxfp4" ? MxFormats.Mxfp4E2M1 : MxFormats.Mxint8;
                var w = new PackedMatrix(format, rows: 192, k: 512, blockSize: 32, seed: 22);
                (string, object)[] attributes = op.EndsWith("-act") ? [("act_format", "mxint8")] : [];
                return (OpModels.MatMul(w, ["m", 512L], PackedMatrix.RandomFloats(192, 23), attributes), i =>
                {
                    int m = 1 + i % 9;
                    return new() { ["A"] = HostTensor.FromFloats(PackedMatrix.RandomFloats(m * 512, 100 + i), m, 512) };
                });
            }
        }
    }
}
