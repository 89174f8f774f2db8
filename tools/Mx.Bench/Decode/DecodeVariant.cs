using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.TestModels.Decoder;

namespace Mx.Bench.Decode;

/// <summary>One form of the decoder's weights that <c>mx bench decode</c> times.</summary>
public enum DecodeVariantKind
{
    /// <summary>Packed MXFP4 weights, activations quantized to MXINT8 inside MxMatMul (true MX×MX).</summary>
    MxMx,

    /// <summary>Packed MXFP4 weights, float32 activations.</summary>
    MxWeightOnly,

    /// <summary>ONNX Runtime's MatMulNBits, 4-bit blocks of 32, accuracy_level 4 (int8 activations), our writer.</summary>
    MatMulNBits,

    /// <summary>The generated float32 model.</summary>
    Fp32,
}

/// <summary>The variants' names (JSON keys and <c>--variants</c> values) and how each is derived from the float32 model.</summary>
public static class DecodeVariants
{
    /// <summary>Every variant, in the order the benchmark runs them (the float32 model last: its decode is the slowest).</summary>
    public static IReadOnlyList<DecodeVariantKind> All { get; } =
        [DecodeVariantKind.MatMulNBits, DecodeVariantKind.MxMx, DecodeVariantKind.MxWeightOnly, DecodeVariantKind.Fp32];

    /// <summary>Bumped when a variant's construction changes, so cached files are rebuilt.</summary>
    public const string Version = "1";

    /// <summary>The variant's name: <c>mxfp4-mxint8</c>, <c>mxfp4-weight-only</c>, <c>matmulnbits-int4-acc4</c>, <c>fp32</c>.</summary>
    public static string Name(DecodeVariantKind v) => v switch
    {
        DecodeVariantKind.MxMx => "mxfp4-mxint8",
        DecodeVariantKind.MxWeightOnly => "mxfp4-weight-only",
        DecodeVariantKind.MatMulNBits => "matmulnbits-int4-acc4",
        _ => "fp32",
    };

    /// <summary>Whether the variant runs the mx.onnx MX kernels.</summary>
    public static bool IsMx(DecodeVariantKind v) => v is DecodeVariantKind.MxMx or DecodeVariantKind.MxWeightOnly;

    /// <summary>Parses a comma-separated list of names.</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static IReadOnlyList<DecodeVariantKind> Parse(string list)
    {
        var byName = All.ToDictionary(Name);
        var chosen = new HashSet<DecodeVariantKind>();
        foreach (string part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            chosen.Add(byName.TryGetValue(part, out var v) ? v : throw new ArgumentException($"unknown variant '{part}'; known: {string.Join(", ", byName.Keys)}"));
        if (chosen.Count == 0) throw new ArgumentException("no variant given");
        return All.Where(chosen.Contains).ToList();
    }

    /// <summary>
    /// The model file of <paramref name="variant"/> in <paramref name="folder"/>, built there first when missing: the
    /// float32 decoder from <see cref="DecoderModelWriter"/>; MXFP4 packed by <see cref="ModelQuantizer"/> (every
    /// MatMul and the embedding's Gather); MX×MX = the same file with <c>act_format = mxint8</c> on every MxMatMul,
    /// sharing the weight-only model's data file; MatMulNBits by the quantizer's <see cref="EmitForm.MatMulNBits"/>
    /// form (the embedding stays float32: MatMulNBits has no Gather).
    /// </summary>
    public static string Ensure(DecodeVariantKind variant, string folder, DecoderConfig config, DecoderAttention attention, Action<string>? log)
    {
        Directory.CreateDirectory(folder);
        string fp32 = Path.Combine(folder, "fp32.onnx");
        if (!Complete(fp32))
        {
            log?.Invoke($"generating {config.Describe()} → {fp32}");
            DecoderModelWriter.Write(config, attention, fp32);
        }
        switch (variant)
        {
            case DecodeVariantKind.Fp32:
                return fp32;
            case DecodeVariantKind.MatMulNBits:
                return Quantized(fp32, Path.Combine(folder, "matmulnbits-int4-acc4.onnx"), new QuantizationOptions { Emit = EmitForm.MatMulNBits, BlockSize = 32 }, log);
            default:
                string weightOnly = Quantized(fp32, Path.Combine(folder, "mxfp4.onnx"), new QuantizationOptions { Format = MxFormats.Mxfp4E2M1 }, log);
                if (variant == DecodeVariantKind.MxWeightOnly) return weightOnly;
                string mxmx = Path.Combine(folder, "mxfp4-mxint8.onnx");
                if (!File.Exists(mxmx)) ActivationFormatCopy.Write(weightOnly, mxmx, "mxint8");
                return mxmx;
        }
    }

    private static string Quantized(string fp32, string path, QuantizationOptions options, Action<string>? log)
    {
        if (Complete(path)) return path;
        log?.Invoke($"quantizing → {path} ({QuantizationText.Emit(options.Emit)})");
        using var model = OnnxModel.Load(fp32);
        ModelQuantizer.Quantize(model, new QuantizationPlan(options));
        model.Save(path, new OnnxSaveOptions { ExternalDataThreshold = 1024 });
        return path;
    }

    // Both files are renamed into place at the end of a write, the data file first: a model file means a whole model.
    private static bool Complete(string model) => File.Exists(model) && File.Exists(model + ".data");
}

/// <summary>Writes a copy of a packed model's graph with another <c>act_format</c> on every MxMatMul, reading the original's data file.</summary>
internal static class ActivationFormatCopy
{
    public static void Write(string source, string destination, string actFormat)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(source)) != Path.GetDirectoryName(Path.GetFullPath(destination)))
            throw new ArgumentException($"{destination} must be beside {source}: it refers to the same external data file");
        using var model = OnnxModel.Load(source);
        int changed = 0;
        foreach (var node in model.Proto.Graph.Node)
        {
            if (node.OpType != "MxMatMul" || node.Domain != MxOps.DomainName) continue;
            for (int i = node.Attribute.Count - 1; i >= 0; i--)
                if (node.Attribute[i].Name == "act_format") node.Attribute.RemoveAt(i);
            node.Attribute.Add(new Mx.Onnx.Proto.AttributeProto
            {
                Name = "act_format", Type = Mx.Onnx.Proto.AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(actFormat),
            });
            changed++;
        }
        if (changed == 0) throw new InvalidDataException($"{source} has no MxMatMul node");
        // The quantizer's record of the run says what the copy now does.
        if (model.Proto.MetadataProps.FirstOrDefault(p => p.Key == QuantizationMetadata.Key) is { } entry
            && System.Text.Json.Nodes.JsonNode.Parse(entry.Value) is System.Text.Json.Nodes.JsonObject json)
        {
            json["act_format"] = actFormat;
            entry.Value = json.ToJsonString();
        }
        string temp = $"{destination}.{Guid.NewGuid():N}.tmp";
        using (var file = File.Create(temp))
            Google.Protobuf.MessageExtensions.WriteTo(model.Proto, file);
        File.Move(temp, destination, overwrite: true);
    }
}
