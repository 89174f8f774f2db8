using System.Globalization;
using Mx.Onnx.Proto;

namespace Mx.Onnx.ExternalData;

/// <summary>
/// Where one tensor's bytes live outside the model file: the <c>external_data</c> entries of a
/// <see cref="TensorProto"/> with <c>data_location = EXTERNAL</c>, parsed and checked for form (not yet against a file).
/// </summary>
/// <param name="TensorName">The tensor's name, for messages.</param>
/// <param name="Location">The data file, relative to the model's folder, as written in the model.</param>
/// <param name="Offset">Byte offset of the tensor in the file.</param>
/// <param name="Length">Byte count, or null when the entry is absent (then the data runs to the end of the file).</param>
public sealed record ExternalDataReference(string TensorName, string Location, long Offset, long? Length)
{
    /// <summary>The keys ONNX defines for <c>external_data</c>.</summary>
    public const string LocationKey = "location", OffsetKey = "offset", LengthKey = "length";

    /// <summary>Whether the tensor's data is stored externally.</summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Parses the <c>external_data</c> entries of <paramref name="tensor"/>.</summary>
    /// <exception cref="OnnxFormatException">No location, or an offset or length that is not a non-negative integer.</exception>
    public static ExternalDataReference Parse(TensorProto tensor, string modelPath)
    {
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case LocationKey: location = entry.Value; break;
                case OffsetKey: offset = ParseCount(entry.Value, OffsetKey); break;
                case LengthKey: length = ParseCount(entry.Value, LengthKey); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new OnnxFormatException($"{modelPath}: tensor '{tensor.Name}' has data_location EXTERNAL but no '{LocationKey}' in external_data");
        return new ExternalDataReference(tensor.Name, location, offset, length);

        long ParseCount(string text, string key) =>
            long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v)
                ? v
                : throw new OnnxFormatException($"{modelPath}: tensor '{tensor.Name}': external_data {key} '{text}' is not a non-negative integer");
    }

    /// <summary>Points <paramref name="tensor"/> at <paramref name="location"/>[offset, offset+length), dropping inline data.</summary>
    public static void Assign(TensorProto tensor, string location, long offset, long length)
    {
        tensor.ClearRawData();
        tensor.ExternalData.Clear();
        tensor.ExternalData.Add(new StringStringEntryProto { Key = LocationKey, Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = OffsetKey, Value = offset.ToString(CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = LengthKey, Value = length.ToString(CultureInfo.InvariantCulture) });
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
    }
}
