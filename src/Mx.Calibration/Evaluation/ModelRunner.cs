using Google.Protobuf;
using Mx.Onnx;
using Mx.Onnx.ExternalData;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Evaluation;

/// <summary>An input or output of a <see cref="ModelRunner"/>: its name and element type.</summary>
internal sealed record RunnerValue(string Name, TensorElementType ElementType, bool IsTensor);

/// <summary>
/// The one seam between calibration and ONNX Runtime: loads an edited copy of a model (extra outputs, weights made
/// inputs, gates) and runs it, handing tensors back by name. Every ORT session of Mx.Calibration is created here, so
/// moving to another binding (Microsoft.ML.OnnxRuntime's InferenceSession) changes this file only.
/// </summary>
/// <remarks>
/// A model whose weights live in external data files is handed to ORT as its graph alone (the tensors keep their
/// external references) with ORT's folder option pointing at the data files, so we never read the weights for it; a
/// model with inline weights is written to a temporary file and loaded by path, so no second copy passes through
/// managed memory. MX ops (domain mx.onnx) are registered. Run may be called from several threads.
/// </remarks>
internal sealed class ModelRunner : IDisposable
{
    private readonly HostTensorSession _session;
    private readonly string _folder;

    private ModelRunner(HostTensorSession session, string folder, string source)
    {
        _session = session;
        _folder = folder;
        Source = source;
        Inputs = session.Inputs.Select(i => new RunnerValue(i.Name, i.ElementType, i.IsTensor)).ToArray();
        Outputs = session.Outputs.Select(o => new RunnerValue(o.Name, o.ElementType, o.IsTensor)).ToArray();
    }

    /// <summary>The model's name in messages.</summary>
    public string Source { get; }

    /// <summary>The inputs every run must feed.</summary>
    public IReadOnlyList<RunnerValue> Inputs { get; }

    /// <summary>The outputs.</summary>
    public IReadOnlyList<RunnerValue> Outputs { get; }

    /// <summary>
    /// Loads <paramref name="proto"/> (an edited copy of <paramref name="model"/>'s proto; not modified), whose
    /// external tensors resolve against <paramref name="model"/>'s data folder.
    /// </summary>
    /// <exception cref="InvalidDataException">ORT cannot load the model; the message says what was loaded (<paramref name="what"/>) and ORT's reason.</exception>
    public static ModelRunner Load(OnnxModel model, ModelProto proto, string what)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(proto);
        using var options = HostTensorSession.CreateOptions();
        // No pre-packed second copy of every constant weight: calibration sessions run a few dozen times, and a model
        // near the machine's memory must fit once.
        options.AddSessionConfigEntry(DisablePrepackingKey, "1");
        bool external = ModelWalker.AllTensors(proto).Any(ExternalDataReference.IsExternal);
        string folder = Directory.CreateTempSubdirectory("mx-calib-model-").FullName;
        try
        {
            HostTensorSession session;
            try
            {
                if (external)
                {
                    // The graph alone (small: the weights stay in their files), with ORT told where the data files are.
                    options.AddSessionConfigEntry(ExternalFolderKey, model.ExternalData.Folder
                        ?? throw new InvalidDataException($"{model.Source}: the model has external data but no folder to find it in"));
                    session = HostTensorSession.FromBytes(proto.ToByteArray(), options);
                }
                else
                {
                    // Inline weights: written to a file and loaded by path, so no second copy passes through our memory.
                    string path = Path.Combine(folder, "model.onnx");
                    using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                        proto.WriteTo(f);
                    session = HostTensorSession.FromFile(path, options);
                    File.Delete(path);
                }
            }
            catch (OrtException ex)
            {
                throw new InvalidDataException($"{model.Source}: ONNX Runtime cannot load {what}: {ex.OrtMessage}", ex);
            }
            return new ModelRunner(session, folder, model.Source);
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    // ORT's session option naming the folder external data is read from when a model is loaded from memory.
    private const string ExternalFolderKey = "session.model_external_initializers_file_folder_path";

    // ORT's session option that keeps kernels from pre-packing constant weights into copies of their own.
    private const string DisablePrepackingKey = "session.disable_prepacking";

    /// <summary>Runs the model on <paramref name="feed"/> (every input, by name) and returns <paramref name="outputs"/> in that order.</summary>
    /// <exception cref="InvalidDataException">ORT fails, or an input is missing or does not fit; the message starts with <paramref name="what"/>.</exception>
    public HostTensor[] Run(IReadOnlyDictionary<string, HostTensor> feed, IReadOnlyList<string> outputs, string what)
    {
        try
        {
            return _session.Run(feed, outputs);
        }
        catch (Exception ex) when (ex is ArgumentException or OrtException)
        {
            throw new InvalidDataException($"{what}: {(ex is OrtException oe ? oe.OrtMessage : ex.Message)}", ex);
        }
    }

    /// <summary>Releases the session and deletes the temporary folder.</summary>
    public void Dispose()
    {
        _session.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A temporary folder left behind is harmless.
        }
    }
}
