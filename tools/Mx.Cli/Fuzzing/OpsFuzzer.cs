using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Mx.Runtime;
using Mx.Runtime.Ort;
using OrtElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace Mx.Cli.Fuzzing;

/// <summary>What the fuzzer saw: counts, and the mutants that broke a rule, described.</summary>
internal sealed class FuzzReport
{
    /// <summary>Mutants tried.</summary>
    public int Mutants { get; set; }

    /// <summary>Session loads and runs tried (one per mutant and registration path).</summary>
    public int Loads { get; set; }

    /// <summary>Loads whose model ran to the end.</summary>
    public int Ran { get; set; }

    /// <summary>Loads refused or failed with an ORT error that names the node or the corrupted tensor.</summary>
    public int NamedErrors { get; set; }

    /// <summary>Per mutation kind: mutants tried.</summary>
    public SortedDictionary<MutationKind, int> ByKind { get; } = [];

    /// <summary>Rule breaks: an error naming neither node nor tensor, a non-ORT exception, or the two registrations disagreeing.</summary>
    public List<string> Problems { get; } = [];

    /// <summary>Wall time of the whole run.</summary>
    public TimeSpan Elapsed { get; set; }
}

/// <summary>
/// Loads corrupted packed models (<see cref="OpsMutator"/>) through the managed registration and, when a library path
/// is given, through the native custom-op library, and runs them. The rules: nothing crashes the process (if it
/// did, the fuzzer would not return); every failure is an ORT error whose message names the failing node or the
/// corrupted tensor; the two registrations agree on whether a mutant runs and, if it does, on the output bits (NaN as NaN).
/// </summary>
internal sealed class OpsFuzzer : IDisposable
{
    private const int MaxProblems = 20;
    private readonly SessionOptions _managed = HostTensorSession.CreateOptions(1);
    private readonly SessionOptions? _native;
    private readonly RunOptions _run = new();

    /// <summary>The fuzzer; <paramref name="libraryPath"/> is the native op library, or null for the managed path only.</summary>
    public OpsFuzzer(string? libraryPath)
    {
        if (libraryPath is null) return;
        _native = new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        _native.RegisterCustomOpLibrary(libraryPath);
    }

    /// <summary>Tries <paramref name="count"/> mutants, cycling through the seeds; deterministic for a given <paramref name="seed"/>.</summary>
    public FuzzReport Run(int count, int seed)
    {
        var report = new FuzzReport();
        var clock = Stopwatch.StartNew();
        var seeds = FuzzSeeds.All;
        for (int i = 0; i < count; i++)
        {
            // A fixed mix of seed and index (HashCode.Combine is randomized per process): the same seed, the same mutants.
            var mutant = OpsMutator.Mutate(seeds[i % seeds.Count], new Random(unchecked(seed * 1_000_003 + i)));
            report.Mutants++;
            report.ByKind[mutant.Kind] = report.ByKind.GetValueOrDefault(mutant.Kind) + 1;
            string label = $"mutant {i} ({mutant.Seed.Name}: {mutant.Description})";
            var managed = Load(mutant, _managed, report, label + " [managed]");
            if (_native is null) continue;
            var native = Load(mutant, _native, report, label + " [library]");
            if (managed.Outputs is null != native.Outputs is null)
                Problem(report, $"{label}: the registrations disagree: managed {(managed.Outputs is null ? "failed: " + managed.Error : "ran")}, library {(native.Outputs is null ? "failed: " + native.Error : "ran")}");
            else if (managed.Outputs is { } a && native.Outputs is { } b && !SameBits(a, b))
                Problem(report, $"{label}: the registrations ran with different outputs");
        }
        report.Elapsed = clock.Elapsed;
        return report;
    }

    private readonly record struct Result(float[][]? Outputs, string? Error);

    private Result Load(Mutant mutant, SessionOptions options, FuzzReport report, string label)
    {
        report.Loads++;
        try
        {
            using var session = new InferenceSession(mutant.Model, options);
            var names = new List<string>();
            var values = new List<OrtValue>();
            var pins = new List<GCHandle>();
            try
            {
                foreach (var (name, tensor) in mutant.Feeds)
                {
                    var pin = GCHandle.Alloc(tensor.Data, GCHandleType.Pinned);
                    pins.Add(pin);
                    names.Add(name);
                    values.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (OrtElementType)OrtElementTypes.ToOrt(tensor.ElementType),
                        tensor.Shape, pin.AddrOfPinnedObject(), tensor.Data.Length));
                }
                using var outputs = session.Run(_run, names, values, session.OutputNames);
                report.Ran++;
                return new Result(outputs.Select(o => o.GetTensorDataAsSpan<float>().ToArray()).ToArray(), null);
            }
            finally
            {
                foreach (var v in values) v.Dispose();
                foreach (var p in pins) p.Free();
            }
        }
        catch (OnnxRuntimeException e)
        {
            if (NamesNodeOrTensor(e.Message, mutant))
                report.NamedErrors++;
            else
                Problem(report, $"{label}: the error names neither a node nor the corrupted tensor: {e.Message}");
            return new Result(null, e.Message);
        }
        catch (Exception e)
        {
            Problem(report, $"{label}: {e.GetType().Name} instead of an ORT error: {e.Message}");
            return new Result(null, e.Message);
        }
    }

    /// <summary>
    /// Whether ORT's message names the mx node, the corrupted tensor, or (ORT's run-time form <c>node. Name:'add'</c>)
    /// the node of the graph where it failed: a bad run-time input may first break an ordinary op.
    /// </summary>
    private static bool NamesNodeOrTensor(string message, Mutant mutant) =>
        message.Contains(mutant.Seed.Node, StringComparison.Ordinal)
        || (mutant.Tensor is { } t && message.Contains(t, StringComparison.Ordinal))
        || mutant.Seed.Model.Graph.Node.Any(n => n.Name.Length > 0 && message.Contains($"Name:'{n.Name}'", StringComparison.Ordinal));

    private static bool SameBits(float[][] a, float[][] b)
    {
        if (a.Length != b.Length) return false;
        for (int o = 0; o < a.Length; o++)
        {
            if (a[o].Length != b[o].Length) return false;
            for (int i = 0; i < a[o].Length; i++)
                if (BitConverter.SingleToInt32Bits(a[o][i]) != BitConverter.SingleToInt32Bits(b[o][i]) && !(float.IsNaN(a[o][i]) && float.IsNaN(b[o][i])))
                    return false;
        }
        return true;
    }

    private static void Problem(FuzzReport report, string text)
    {
        if (report.Problems.Count < MaxProblems) report.Problems.Add(text);
        else if (report.Problems.Count == MaxProblems) report.Problems.Add("(further problems not listed)");
    }

    /// <summary>Releases the session options.</summary>
    public void Dispose()
    {
        _managed.Dispose();
        _native?.Dispose();
        _run.Dispose();
    }
}
