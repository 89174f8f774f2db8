using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Writes the <c>mx.tool</c> and <c>mx.quantization</c> metadata_props of a quantized model (the contract that
/// <see cref="QuantizationMetadata"/> reads back): the run's options and, per tensor, its layout, the initializers that
/// hold it and the bytes before and after.
/// </summary>
public static class QuantizationMetadataWriter
{

    /// <summary><c>mx &lt;version&gt;</c>, the version of this library.</summary>
    public static string Tool { get; } = "mx " + ToolVersion();

    /// <summary>The JSON document for a run.</summary>
    public static string ToJson(QuantizationOptions options, IEnumerable<QuantizedTensorRecord> tensors, IEnumerable<SkippedTensorRecord> skipped, IEnumerable<string> notes)
    {
        bool nbits = options.Emit == EmitForm.MatMulNBits;
        var root = new JsonObject
        {
            ["tool"] = Tool,
            ["emit"] = QuantizationText.Emit(options.Emit),
            ["format"] = nbits ? NBitsFormat : options.Format.Name,
            ["block_size"] = nbits ? options.BlockSize ?? 32 : options.DefaultSettings.BlockSize,
            ["scale"] = nbits ? NBitsScale(options) : QuantizationText.Scale(options.ScaleMode),
            ["rounding"] = QuantizationText.Rounding(options.Rounding),
            ["act_format"] = options.ActFormat?.Name,
        };
        if (nbits) root["accuracy_level"] = options.MatMulNBits.AccuracyLevel;
        root["tensors"] = new JsonArray(tensors.Select(t => Tensor(t, options)).ToArray<JsonNode?>());
        root["skipped"] = new JsonArray(skipped.Select(s => (JsonNode?)new JsonObject { ["name"] = s.Name, ["op"] = s.Op, ["reason"] = s.Reason }).ToArray());
        root["notes"] = new JsonArray(notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray());
        // Relaxed escaping keeps quotes and non-ASCII names readable in the model file (it is still valid JSON).
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    /// <summary>The <c>format</c> of MatMulNBits weights: 4-bit integer codes with float32 block scales.</summary>
    public const string NBitsFormat = "int4";

    // MatMulNBits' scale rule: the block's largest magnitude (symmetric) or its min/max range (zero points).
    private static string NBitsScale(QuantizationOptions o) => o.MatMulNBits.ZeroPoints ? "minmax" : "absmax";

    private static JsonNode Tensor(QuantizedTensorRecord t, QuantizationOptions options)
    {
        var o = TensorFields(t);
        if (options.Emit == EmitForm.MatMulNBits)
        {
            o["format"] = NBitsFormat;
            o["scale"] = NBitsScale(options);
            o["zero_points"] = t.ZeroPoints;
        }
        // A per-tensor activation format (a calibration recipe's) is recorded only where one is set.
        if (t.Settings.ActFloat32 || t.Settings.ActFormat != null) o["act_format"] = t.Settings.ActFloat32 ? "fp32" : t.Settings.ActFormat!.Name;
        return o;
    }

    private static JsonObject TensorFields(QuantizedTensorRecord t) => new JsonObject
    {
        ["name"] = t.Name,
        ["op"] = t.Op,
        ["nodes"] = new JsonArray(t.Nodes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
        ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
        ["dtype"] = t.DType,
        ["format"] = t.Settings.Format.Name,
        ["block_size"] = t.Settings.BlockSize,
        ["scale"] = t.Settings.ScaleText,
        ["rounding"] = t.Settings.RoundingText,
        ["block_shape"] = new JsonArray(t.BlockShape.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
        ["axis"] = t.Axis,
        ["elements"] = t.Elements,
        ["scales"] = t.Scales,
        ["micro"] = t.Micro,
        ["layout"] = t.Layout,
        ["mask"] = t.Mask,
        ["bytes_before"] = t.BytesBefore,
        ["bytes_after"] = t.BytesAfter,
        ["notes"] = new JsonArray(t.Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
    };

    /// <summary>Sets (replacing) a metadata_props entry.</summary>
    public static void Set(Proto.ModelProto model, string key, string value)
    {
        for (int i = model.MetadataProps.Count - 1; i >= 0; i--)
            if (model.MetadataProps[i].Key == key) model.MetadataProps.RemoveAt(i);
        model.MetadataProps.Add(new Proto.StringStringEntryProto { Key = key, Value = value });
    }

    private static string ToolVersion()
    {
        var asm = typeof(QuantizationMetadataWriter).Assembly;
        string? v = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (v != null)
        {
            int plus = v.IndexOf('+', StringComparison.Ordinal);
            return plus >= 0 ? v[..plus] : v;
        }
        var n = asm.GetName().Version;
        return n is null ? "0.1.0" : $"{n.Major}.{n.Minor}.{n.Build}";
    }
}
