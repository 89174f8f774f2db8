using Microsoft.ML.OnnxRuntime;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Onnx.Reports;

/// <summary>
/// Runs a reference model and a candidate model (for example an original and its quantized version) on the same
/// samples in ONNX Runtime, with the MX custom ops registered, and measures how far the candidate's outputs are from
/// the reference's (<see cref="OutputComparison"/>). Works from files or from bytes, with samples from anywhere.
/// </summary>
public sealed class ModelComparison : IDisposable
{
    private readonly bool _ownsSessions;

    /// <summary>Compares two existing sessions; they are disposed with this object when <paramref name="ownsSessions"/>.</summary>
    /// <exception cref="InvalidDataException">The candidate lacks an output of the reference; the message names it.</exception>
    public ModelComparison(HostTensorSession reference, HostTensorSession candidate, bool ownsSessions = false)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidate);
        Reference = reference;
        Candidate = candidate;
        _ownsSessions = ownsSessions;
        OutputNames = reference.Outputs.Where(o => o.IsTensor).Select(o => o.Name).ToArray();
        foreach (string name in OutputNames)
            if (!candidate.Outputs.Any(o => o.Name == name))
                throw new InvalidDataException($"{candidate.Source}: has no output '{name}' (the reference {reference.Source} has it); candidate outputs: {string.Join(", ", candidate.Outputs.Select(o => o.Name))}");
    }

    /// <summary>The reference (original) model's session.</summary>
    public HostTensorSession Reference { get; }

    /// <summary>The candidate (quantized) model's session.</summary>
    public HostTensorSession Candidate { get; }

    /// <summary>The inputs the samples must provide: the reference model's.</summary>
    public IReadOnlyList<OrtTensorInfo> Inputs => Reference.Inputs;

    /// <summary>The outputs compared: the reference model's tensor outputs.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Loads two model files (MX ops registered on <paramref name="options"/>, or on default options).</summary>
    /// <exception cref="InvalidDataException">ORT cannot load a model; the message names the file.</exception>
    public static ModelComparison FromFiles(string referencePath, string candidatePath, SessionOptions? options = null)
    {
        options = WithMxOps(options);
        var reference = Load(referencePath, () => HostTensorSession.FromFile(referencePath, options));
        try
        {
            return new ModelComparison(reference, Load(candidatePath, () => HostTensorSession.FromFile(candidatePath, options)), ownsSessions: true);
        }
        catch
        {
            reference.Dispose();
            throw;
        }
    }

    /// <summary>Loads two serialized models (all tensors inline), for callers that build models in memory.</summary>
    /// <exception cref="InvalidDataException">ORT cannot load a model.</exception>
    public static ModelComparison FromBytes(byte[] reference, byte[] candidate, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(candidate);
        options = WithMxOps(options);
        var r = Load("reference model", () => HostTensorSession.FromBytes(reference, options));
        try
        {
            return new ModelComparison(r, Load("candidate model", () => HostTensorSession.FromBytes(candidate, options)), ownsSessions: true);
        }
        catch
        {
            r.Dispose();
            throw;
        }
    }

    // Null stays null: each session then makes (and owns) default options with the MX ops.
    private static SessionOptions? WithMxOps(SessionOptions? options) => options?.RegisterMxOps();

    private static HostTensorSession Load(string what, Func<HostTensorSession> load)
    {
        try
        {
            return load();
        }
        catch (OrtException ex)
        {
            throw new InvalidDataException($"{what}: ONNX Runtime cannot load the model: {ex.OrtMessage}", ex);
        }
    }

    /// <summary>
    /// Runs both models on every sample (a dictionary from input name to tensor; inputs a model does not declare are
    /// not passed to it) and returns the metrics per output.
    /// </summary>
    /// <exception cref="ArgumentException">No samples.</exception>
    /// <exception cref="InvalidDataException">A model fails on a sample, or the outputs differ in shape; the message names the sample and the output.</exception>
    public ModelComparisonResult Compare(IEnumerable<IReadOnlyDictionary<string, HostTensor>> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        var accumulators = OutputNames.Select(n => new OutputErrorAccumulator(n)).ToArray();
        int count = 0;
        foreach (var sample in samples)
        {
            var r = Run(Reference, sample, count);
            var c = Run(Candidate, sample, count);
            for (int i = 0; i < accumulators.Length; i++)
            {
                try
                {
                    accumulators[i].Add(r[i], c[i]);
                }
                catch (InvalidDataException ex)
                {
                    throw new InvalidDataException($"sample {count}: {ex.Message}", ex);
                }
            }
            count++;
        }
        if (count == 0) throw new ArgumentException("no samples to compare the models on", nameof(samples));
        return new ModelComparisonResult(count, accumulators.Select(a => a.Result()).ToArray());
    }

    private HostTensor[] Run(HostTensorSession session, IReadOnlyDictionary<string, HostTensor> sample, int index)
    {
        var inputs = session.Inputs.Where(i => sample.ContainsKey(i.Name)).ToDictionary(i => i.Name, i => sample[i.Name], StringComparer.Ordinal);
        try
        {
            return session.Run(inputs, OutputNames);
        }
        catch (Exception ex) when (ex is ArgumentException or OrtException)
        {
            string message = ex is OrtException oe ? oe.OrtMessage : ex.Message;
            throw new InvalidDataException($"{session.Source}: sample {index}: {message}", ex);
        }
    }

    /// <summary>Disposes the sessions when this object owns them.</summary>
    public void Dispose()
    {
        if (!_ownsSessions) return;
        Reference.Dispose();
        Candidate.Dispose();
    }
}
