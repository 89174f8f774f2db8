using Mx.Onnx.ExternalData;
using Mx.Onnx.Tensors;

namespace Mx.Onnx.Reports;

/// <summary>The bytes a model takes on disk: the .onnx file plus every external data file its tensors refer to.</summary>
public static class ModelFileSize
{
    /// <summary>Total bytes of <paramref name="model"/>'s file and its distinct external data files.</summary>
    /// <exception cref="FileNotFoundException">The model file or a referenced data file is missing; the message names it.</exception>
    public static long Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!File.Exists(model.Source)) throw new FileNotFoundException($"{model.Source}: model file not found", model.Source);
        long total = new FileInfo(model.Source).Length;
        foreach (string file in ExternalFiles(model))
            total += File.Exists(file) ? new FileInfo(file).Length : throw new FileNotFoundException($"{model.Source}: external data file {file} not found", file);
        return total;
    }

    /// <summary>The full paths of the distinct external data files the model's tensors refer to.</summary>
    public static IReadOnlyList<string> ExternalFiles(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        string folder = model.ExternalData.Folder ?? Path.GetDirectoryName(Path.GetFullPath(model.Source)) ?? ".";
        return ModelWalker.AllTensors(model.Proto)
            .Where(ExternalDataReference.IsExternal)
            .Select(t => Path.GetFullPath(Path.Combine(folder, ExternalDataReference.Parse(t, model.Source).Location)))
            .Distinct(StringComparer.Ordinal)
            .ToArray();
    }
}
