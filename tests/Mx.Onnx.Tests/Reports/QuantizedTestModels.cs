using System.Text.Json;
using Google.Protobuf;
using Mx.Onnx.Proto;
using Mx.Onnx.Tensors;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Onnx.Tests.Reports;

/// <summary>A weight the helper quantized: its original values and the dequantized values it wrote (row-major, original shape).</summary>
internal sealed record WrittenWeight(string Name, long[] Shape, float[] Original, float[] Dequantized, long StoredBytes);

/// <summary>
/// Writes quantized test models the way the quantizer's contract describes (the quantizer is developed separately):
/// MatMul weights [K, N] quantized with <see cref="MxQuantizer"/> along axis 0 and stored as packed uint8
/// initializers used by MxMatMul (docs/ops.md), as float32 dequantized values (fake), or as DequantizeLinear data and
/// block scales (qdq, decode only). Each writes the <c>mx.tool</c> and <c>mx.quantization</c> metadata.
/// </summary>
internal static class QuantizedTestModels
{
    public static IReadOnlyList<WrittenWeight> WritePacked(string original, string output, MxFormat format, params string[] weights) =>
        Write(original, output, "packed", format, weights, (model, node, name, packed, entry) =>
        {
            var l = packed.Layout;
            string elements = model.UniqueName(name + ".mx_elements"), scales = model.UniqueName(name + ".mx_scales");
            model.SetPackedInitializer(elements, [l.Rows, l.RowBytes], packed.Elements.Span);
            model.SetPackedInitializer(scales, [l.Rows, l.BlocksPerRow], packed.Scales.Span);
            string? micro = null;
            if (l.MicroBytes > 0)
            {
                micro = model.UniqueName(name + ".mx_micro");
                model.SetPackedInitializer(micro, [l.Rows, l.BlocksPerRow * l.MicroBytesPerBlock], packed.Micro.Span);
            }
            var mx = new NodeProto { Name = node.Name + "_mx", OpType = "MxMatMul", Domain = "mx.onnx" };
            mx.Input.Add(node.Input[0]);
            mx.Input.Add(elements);
            mx.Input.Add(scales);
            if (micro is not null)
            {
                mx.Input.Add("");
                mx.Input.Add(micro);
            }
            mx.Output.Add(node.Output[0]);
            mx.Attribute.Add(Str("format", format.Name));
            mx.Attribute.Add(Int("block_size", l.BlockSize));
            mx.Attribute.Add(Int("K", l.Shape[0]));
            mx.Attribute.Add(Int("N", l.Shape[1]));
            int at = model.Proto.Graph.Node.IndexOf(node);
            model.Proto.Graph.Node[at] = mx;
            model.RemoveInitializer(name);
            entry["elements"] = elements;
            entry["scales"] = scales;
            entry["micro"] = micro;
            entry["nodes"] = new[] { mx.Name };
            return l.ElementBytes + l.ScaleBytes + l.MicroBytes;
        });

    public static IReadOnlyList<WrittenWeight> WriteFake(string original, string output, MxFormat format, params string[] weights) =>
        Write(original, output, "fake", format, weights, (model, node, name, packed, entry) =>
        {
            float[] dq = MxQuantizer.Dequantize(packed);
            model.SetInitializer(TensorFactory.Float32(name, model.FindInitializer(name)!.Dims.ToArray(), dq));
            entry["elements"] = name;
            entry["scales"] = null;
            entry["micro"] = null;
            return dq.LongLength * 4;
        });

    /// <summary>qdq for 8-bit formats: mxfp8_e4m3 codes are float8e4m3fn bytes; mxint8 codes are int8 with 2^-6 folded into the scale.</summary>
    public static IReadOnlyList<WrittenWeight> WriteQdq(string original, string output, MxFormat format, params string[] weights) =>
        Write(original, output, "qdq", format, weights, (model, node, name, packed, entry) =>
        {
            var l = packed.Layout;
            int k = l.Shape[0], n = l.Shape[1], nb = l.BlocksPerRow;
            var codes = new byte[k * n];
            var scales = new float[nb * n];
            for (int col = 0; col < n; col++)
            {
                for (int row = 0; row < k; row++) codes[row * n + col] = packed.Elements.Span[col * l.RowBytes + row];
                for (int b = 0; b < nb; b++)
                    scales[b * n + col] = E8M0.ToFloat(packed.Scales.Span[col * nb + b]) * (format == MxFormats.Mxint8 ? 1f / 64 : 1f);
            }
            var type = format == MxFormats.Mxint8 ? TensorElementType.Int8 : TensorElementType.Float8E4M3FN;
            string data = model.UniqueName(name + ".q"), scale = model.UniqueName(name + ".scale");
            model.SetInitializer(TensorFactory.FromRaw(data, type, [k, n], codes));
            model.SetInitializer(TensorFactory.Float32(scale, [nb, n], scales));
            model.RemoveInitializer(name);
            var dq = new NodeProto { Name = name + "_dq", OpType = "DequantizeLinear" };
            dq.Input.Add(data);
            dq.Input.Add(scale);
            dq.Output.Add(name);
            dq.Attribute.Add(Int("axis", 0));
            dq.Attribute.Add(Int("block_size", l.BlockSize));
            model.Proto.Graph.Node.Insert(0, dq);
            entry["elements"] = data;
            entry["scales"] = scale;
            entry["micro"] = null;
            return codes.Length + scales.Length * 4L;
        });

    private delegate long Store(OnnxModel model, NodeProto node, string name, MxPackedTensor packed, Dictionary<string, object?> entry);

    private static IReadOnlyList<WrittenWeight> Write(string original, string output, string emit, MxFormat format, string[] weights, Store store)
    {
        using var model = OnnxModel.Load(original);
        var written = new List<WrittenWeight>();
        var entries = new List<Dictionary<string, object?>>();
        foreach (string name in weights)
        {
            var tensor = model.FindInitializer(name) ?? throw new ArgumentException($"no initializer {name}");
            var node = model.Proto.Graph.Node.Single(n => n.OpType is "MatMul" or "Conv" && n.Input[1] == name);
            if (node.OpType == "Conv" && emit != "fake") throw new ArgumentException("the helper writes Conv weights only as fake quantization");
            float[] values = model.ReadFloat32(tensor);
            long[] shape = tensor.Dims.ToArray();
            long bytesBefore = values.LongLength * 4;
            // MatMul B [K, N] blocks along K (axis 0); Conv W [Cout, Cin/g, kh, kw] as [Cout, Cin/g·kh·kw] along axis 1.
            int axis = node.OpType == "Conv" ? 1 : 0;
            int[] blockShape = node.OpType == "Conv" ? [(int)shape[0], (int)(values.LongLength / shape[0])] : [(int)shape[0], (int)shape[1]];
            var packed = MxQuantizer.Quantize(values, blockShape, new MxQuantizeOptions(format) { Axis = axis });
            var entry = new Dictionary<string, object?>
            {
                ["name"] = name, ["op"] = node.OpType, ["nodes"] = new[] { node.Name }, ["shape"] = shape, ["dtype"] = "float",
                ["format"] = format.Name, ["block_size"] = packed.Layout.BlockSize, ["scale"] = "floor", ["rounding"] = "even",
                ["block_shape"] = blockShape, ["axis"] = axis, ["bytes_before"] = bytesBefore,
            };
            long stored = store(model, node, name, packed, entry);
            entry["bytes_after"] = stored;
            entries.Add(entry);
            written.Add(new WrittenWeight(name, shape, values, MxQuantizer.Dequantize(packed), stored));
        }
        if (emit == "packed" && !model.Proto.OpsetImport.Any(o => o.Domain == "mx.onnx"))
            model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "mx.onnx", Version = 1 });
        var skipped = model.Proto.Graph.Node.Where(n => n.OpType is "MatMul" or "Conv" && !weights.Contains(n.Input[1]) && model.FindInitializer(n.Input[1]) is not null)
            .Select(n => new Dictionary<string, object?> { ["name"] = n.Input[1], ["op"] = n.OpType, ["reason"] = "excluded by the test" }).ToList();
        var metadata = new Dictionary<string, object?>
        {
            ["tool"] = "mx 0.1.0", ["emit"] = emit, ["format"] = format.Name, ["block_size"] = format.DefaultBlockSize,
            ["scale"] = "floor", ["rounding"] = "even", ["act_format"] = null, ["tensors"] = entries, ["skipped"] = skipped,
        };
        model.Proto.MetadataProps.Add(new StringStringEntryProto { Key = "mx.tool", Value = "mx 0.1.0" });
        model.Proto.MetadataProps.Add(new StringStringEntryProto { Key = "mx.quantization", Value = JsonSerializer.Serialize(metadata) });
        model.Refresh();
        model.Save(output);
        return written;
    }

    /// <summary>Replaces the <c>mx.quantization</c> JSON of a saved model (to make broken models).</summary>
    public static void EditMetadata(string path, Func<string?, string?> edit)
    {
        using var model = OnnxModel.Load(path);
        var entry = model.Proto.MetadataProps.FirstOrDefault(p => p.Key == "mx.quantization");
        string? value = edit(entry?.Value);
        if (entry is not null) model.Proto.MetadataProps.Remove(entry);
        if (value is not null) model.Proto.MetadataProps.Add(new StringStringEntryProto { Key = "mx.quantization", Value = value });
        string temp = path + ".edit";
        model.Save(temp);
        model.Dispose();
        File.Move(temp, path, overwrite: true);
    }

    private static AttributeProto Str(string n, string v) => new() { Name = n, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    private static AttributeProto Int(string n, long v) => new() { Name = n, Type = AttributeProto.Types.AttributeType.Int, I = v };
}
