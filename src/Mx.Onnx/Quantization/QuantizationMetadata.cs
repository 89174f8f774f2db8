using System.Text.Json;

namespace Mx.Onnx.Quantization;

/// <summary>One quantized weight as the quantizer recorded it in <c>mx.quantization</c> (see docs/report-schema.md).</summary>
/// <param name="Name">The original initializer or Constant name.</param>
/// <param name="Op">The consuming operator: MatMul, Gemm, Conv or Gather.</param>
/// <param name="Nodes">The nodes that use the weight.</param>
/// <param name="Shape">The original tensor's shape.</param>
/// <param name="DType">The original element type, e.g. <c>float</c>.</param>
/// <param name="Format">The MX format name (<c>int4</c> for emit <c>matmulnbits</c>).</param>
/// <param name="BlockSize">Elements per shared scale.</param>
/// <param name="Scale">Scale choice: floor, ceil or mse.</param>
/// <param name="Rounding">Element rounding: even or away.</param>
/// <param name="BlockShape">The 2-D (or original) shape the blocks are laid out in.</param>
/// <param name="Axis">The block axis of <paramref name="BlockShape"/>.</param>
/// <param name="Elements">The initializer holding the element codes (packed, qdq) or the dequantized values (fake).</param>
/// <param name="Scales">The scale initializer, or null.</param>
/// <param name="Micro">The micro-exponent initializer (MX9/MX6/MX4 packed), or null.</param>
/// <param name="BytesBefore">Bytes the quantizer says the original held.</param>
/// <param name="BytesAfter">Bytes the quantizer says it wrote.</param>
/// <param name="Layout">Packed storage: <c>rowmajor</c> or <c>kmajor</c>.</param>
/// <param name="Mask">The K-major tile mask initializer, or null (every tile stored).</param>
/// <param name="ZeroPoints">The zero-point initializer of a MatMulNBits weight that has one (emit <c>matmulnbits</c>), or null.</param>
public sealed record QuantizedTensorEntry(
    string Name, string Op, IReadOnlyList<string> Nodes, long[] Shape, string DType, string Format, int BlockSize,
    string Scale, string Rounding, int[] BlockShape, int Axis, string Elements, string? Scales, string? Micro,
    long BytesBefore, long BytesAfter, string Layout = "rowmajor", string? Mask = null, string? ZeroPoints = null);

/// <summary>A weight the quantizer left in its original form, and why.</summary>
/// <param name="Name">The initializer or Constant name.</param>
/// <param name="Op">The consuming operator.</param>
/// <param name="Reason">Why it was not quantized.</param>
public sealed record SkippedTensorEntry(string Name, string Op, string Reason);

/// <summary>
/// The <c>mx.quantization</c> metadata of a quantized model, read back: the settings and, per weight, where its
/// quantized form lives (written by <see cref="QuantizationMetadataWriter"/>). Parsed strictly; every problem names the
/// model file and the key.
/// </summary>
public sealed record QuantizationMetadata(
    string Tool, string Emit, string Format, int BlockSize, string Scale, string Rounding, string? ActFormat,
    IReadOnlyList<QuantizedTensorEntry> Tensors, IReadOnlyList<SkippedTensorEntry> Skipped)
{
    /// <summary>The metadata_props key holding the JSON.</summary>
    public const string Key = "mx.quantization";

    /// <summary>The metadata_props key holding the tool name and version.</summary>
    public const string ToolKey = "mx.tool";

    /// <summary>The emit modes a quantized model can have.</summary>
    public static IReadOnlyList<string> EmitModes { get; } = ["packed", "qdq", "fake", "matmulnbits"];

    /// <summary>Reads the metadata of <paramref name="model"/>.</summary>
    /// <exception cref="InvalidDataException">No <c>mx.quantization</c> entry, or it is not valid; the message names the file.</exception>
    public static QuantizationMetadata Of(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var entry = model.Proto.MetadataProps.FirstOrDefault(p => p.Key == Key);
        if (entry is null)
            throw new InvalidDataException($"{model.Source}: no '{Key}' metadata; this is not a model written by `mx quantize` (metadata keys: {Keys(model)})");
        return Parse(entry.Value, model.Source);
    }

    private static string Keys(OnnxModel model) =>
        model.Proto.MetadataProps.Count == 0 ? "none" : string.Join(", ", model.Proto.MetadataProps.Select(p => p.Key));

    /// <summary>Parses the JSON text of the metadata; <paramref name="source"/> names the file in messages.</summary>
    /// <exception cref="InvalidDataException">Not JSON, or a required key is missing or has the wrong type.</exception>
    public static QuantizationMetadata Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{source}: '{Key}' metadata is not valid JSON: {ex.Message}", ex);
        }
        using (doc)
        {
            var root = new JsonReader(doc.RootElement, source, Key);
            string emit = root.String("emit");
            if (!EmitModes.Contains(emit))
                throw new InvalidDataException($"{source}: '{Key}': emit '{emit}' is not one of {string.Join(", ", EmitModes)}");
            var tensors = root.Array("tensors").Select((t, i) => ParseTensor(new JsonReader(t, source, $"{Key}.tensors[{i}]"))).ToArray();
            var skipped = root.OptionalArray("skipped").Select((t, i) =>
            {
                var r = new JsonReader(t, source, $"{Key}.skipped[{i}]");
                return new SkippedTensorEntry(r.String("name"), r.OptionalString("op") ?? "", r.OptionalString("reason") ?? "");
            }).ToArray();
            return new QuantizationMetadata(
                root.OptionalString("tool") ?? "", emit, root.OptionalString("format") ?? "", root.OptionalInt("block_size") ?? 0,
                root.OptionalString("scale") ?? "", root.OptionalString("rounding") ?? "", root.OptionalString("act_format"),
                tensors, skipped);
        }
    }

    private static QuantizedTensorEntry ParseTensor(JsonReader r) => new(
        r.String("name"), r.String("op"), r.OptionalArray("nodes").Select(n => n.GetString() ?? "").ToArray(),
        r.Longs("shape"), r.OptionalString("dtype") ?? "float", r.String("format"), r.Int("block_size"),
        r.OptionalString("scale") ?? "", r.OptionalString("rounding") ?? "", r.Longs("block_shape").Select(d => checked((int)d)).ToArray(),
        r.Int("axis"), r.String("elements"), r.OptionalString("scales"), r.OptionalString("micro"),
        r.OptionalLong("bytes_before") ?? 0, r.OptionalLong("bytes_after") ?? 0,
        r.OptionalString("layout") ?? "rowmajor", r.OptionalString("mask"), r.OptionalString("zero_points"));

    /// <summary>Typed access to one JSON object with messages that name the file and the key path.</summary>
    private readonly struct JsonReader(JsonElement element, string source, string path)
    {
        private JsonElement? Get(string key)
        {
            if (element.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{source}: '{path}' is not a JSON object");
            return element.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
        }

        private JsonElement Required(string key) =>
            Get(key) ?? throw new InvalidDataException($"{source}: '{path}' has no '{key}'");

        private InvalidDataException Wrong(string key, string what) => new($"{source}: '{path}.{key}' is not {what}");

        public string String(string key)
        {
            var v = Required(key);
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Wrong(key, "a string");
        }

        public string? OptionalString(string key) => Get(key) is null ? null : String(key);

        public int Int(string key)
        {
            var v = Required(key);
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw Wrong(key, "an integer");
        }

        public int? OptionalInt(string key) => Get(key) is null ? null : Int(key);

        public long? OptionalLong(string key)
        {
            if (Get(key) is not { } v) return null;
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long l) ? l : throw Wrong(key, "an integer");
        }

        public JsonElement[] Array(string key)
        {
            var v = Required(key);
            return v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().ToArray() : throw Wrong(key, "an array");
        }

        public JsonElement[] OptionalArray(string key) => Get(key) is null ? [] : Array(key);

        public long[] Longs(string key)
        {
            var items = Array(key);
            var result = new long[items.Length];
            for (int i = 0; i < items.Length; i++)
                result[i] = items[i].ValueKind == JsonValueKind.Number && items[i].TryGetInt64(out long l) ? l : throw Wrong(key, "an array of integers");
            return result;
        }
    }
}
