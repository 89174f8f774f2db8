using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Data;

/// <summary>
/// Samples in the ONNX test layout: <c>test_data_set_*</c> folders of <c>input_0.pb</c>, <c>input_1.pb</c>, ...
/// (serialized TensorProto), where input <c>i</c> is the model's <c>i</c>-th graph input. One folder is one sample.
/// </summary>
public static class TestDataSetSamples
{
    /// <summary>Whether <paramref name="dir"/> is a test_data_set folder or holds some.</summary>
    public static bool IsTestDataLayout(string dir) =>
        Directory.GetFiles(dir, "input_*.pb").Length > 0 || Directory.GetDirectories(dir, "test_data_set_*").Length > 0;

    /// <summary>One sample per <c>test_data_set_*</c> folder (sorted by name), or a single sample when <paramref name="dir"/> is one.</summary>
    /// <exception cref="InvalidDataException">A file is missing, not a TensorProto, or does not fit its input; the message names the file.</exception>
    public static IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Load(string dir, IReadOnlyList<OrtTensorInfo> inputs)
    {
        var sets = Directory.GetFiles(dir, "input_*.pb").Length > 0
            ? [dir]
            : Directory.GetDirectories(dir, "test_data_set_*").Order(StringComparer.Ordinal).ToArray();
        return sets.Select(s => LoadSet(s, inputs)).ToList();
    }

    private static IReadOnlyDictionary<string, HostTensor> LoadSet(string dir, IReadOnlyList<OrtTensorInfo> inputs)
    {
        var sample = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        var files = Directory.GetFiles(dir, "input_*.pb");
        for (int i = 0; i < inputs.Count; i++)
        {
            string path = Path.Combine(dir, $"input_{i}.pb");
            if (!File.Exists(path))
                throw new InvalidDataException($"{dir}: no input_{i}.pb for input {inputs[i]} (found {files.Length} input files)");
            TensorProto proto;
            try
            {
                proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
            }
            catch (Google.Protobuf.InvalidProtocolBufferException ex)
            {
                throw new InvalidDataException($"{path}: not a serialized TensorProto: {ex.Message}", ex);
            }
            HostTensor t = TensorReader.ToHostTensor(proto, null);
            if (t.ElementType != inputs[i].ElementType)
                throw new InvalidDataException($"{path}: element type {t.ElementType.OnnxName()}, but input {inputs[i]} needs {inputs[i].ElementType.OnnxName()}");
            if (!inputs[i].Accepts(t.Shape))
                throw new InvalidDataException($"{path}: shape [{string.Join(", ", t.Shape)}] does not fit input {inputs[i]}");
            sample[inputs[i].Name] = t;
        }
        return sample;
    }
}
