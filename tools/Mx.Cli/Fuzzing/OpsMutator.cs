using Google.Protobuf;
using Mx.Onnx.Graph;
using Mx.Onnx.Proto;
using Mx.Runtime;
using Mx.Runtime.Formats;

namespace Mx.Cli.Fuzzing;

/// <summary>The kinds of corruption the fuzzer applies to a packed model (one per mutant).</summary>
internal enum MutationKind
{
    AttributeValue,      // a flipped attribute: boundary, huge, negative, unknown or another valid value
    AttributeType,       // the attribute present with another type
    AttributeMissing,    // the attribute removed
    TruncatedWeight,     // a packed initializer cut short (dims updated or left claiming the old size)
    OversizedWeight,     // a packed initializer with extra bytes
    WeightShape,         // a packed initializer's dims changed, its bytes kept
    WeightDtype,         // a packed initializer declared float / int8 / int64
    NonFiniteScales,     // E8M0 scale bytes 0xFF (NaN blocks), or every scale at the extremes
    RandomCodes,         // element bytes replaced by random codes
    InputDropped,        // an input of the node removed or left empty
    InputsSwapped,       // two inputs of the node swapped
    WeightAsGraphInput,  // a packed initializer turned into a graph input fed at run time
    RunInputShape,       // a run-time input of a wrong shape (wrong last dimension, rank, empty)
    RunInputValues,      // run-time inputs with NaN/Inf, or indices out of range
}

/// <summary>A corrupted model, its run-time inputs, and what was done to it (for messages).</summary>
internal sealed record Mutant(FuzzSeed Seed, MutationKind Kind, string Description, byte[] Model, IReadOnlyDictionary<string, HostTensor> Feeds, string? Tensor);

/// <summary>Makes one mutant from a seed and a random source; deterministic for a given <see cref="Random"/> state.</summary>
internal static class OpsMutator
{
    private static readonly MutationKind[] Kinds = Enum.GetValues<MutationKind>();

    public static Mutant Mutate(FuzzSeed seed, Random rng)
    {
        var model = seed.Model.Clone();
        var node = model.Graph.Node.Single(n => n.Name == seed.Node);
        var feeds = new Dictionary<string, HostTensor>(seed.Feeds, StringComparer.Ordinal);
        var kind = Kinds[rng.Next(Kinds.Length)];
        var packed = model.Graph.Initializer.Where(t => node.Input.Contains(t.Name) && t.DataType == 2).ToList();
        // Seeds without packed initializers (MxQuantizeDequantize) get attribute and run-input mutations instead.
        if (packed.Count == 0 && kind is >= MutationKind.TruncatedWeight and <= MutationKind.WeightAsGraphInput)
            kind = rng.Next(2) == 0 ? MutationKind.AttributeValue : MutationKind.RunInputShape;
        string? tensor = null;
        string what;
        switch (kind)
        {
            case MutationKind.AttributeValue:
            {
                var a = node.Attribute[rng.Next(node.Attribute.Count)];
                what = $"attribute '{a.Name}' = {FlipValue(a, rng)}";
                break;
            }
            case MutationKind.AttributeType:
            {
                int i = rng.Next(node.Attribute.Count);
                var a = node.Attribute[i];
                node.Attribute[i] = a.Type == AttributeProto.Types.AttributeType.String
                    ? FuzzAttributes.Make(a.Name, (long)rng.Next(-2, 70))
                    : FuzzAttributes.Make(a.Name, "7");
                what = $"attribute '{a.Name}' retyped {a.Type} → {node.Attribute[i].Type}";
                break;
            }
            case MutationKind.AttributeMissing:
            {
                var a = node.Attribute[rng.Next(node.Attribute.Count)];
                node.Attribute.Remove(a);
                what = $"attribute '{a.Name}' removed";
                break;
            }
            case MutationKind.TruncatedWeight:
            {
                var t = packed[rng.Next(packed.Count)];
                int keep = rng.Next(t.RawData.Length);
                bool fixDims = rng.Next(2) == 0;
                t.RawData = ByteString.CopyFrom(t.RawData.Span[..keep]);
                if (fixDims) SetDims(t, keep);
                (tensor, what) = (t.Name, $"'{t.Name}' truncated to {keep} bytes{(fixDims ? "" : " (dims unchanged)")}");
                break;
            }
            case MutationKind.OversizedWeight:
            {
                var t = packed[rng.Next(packed.Count)];
                int extra = 1 + rng.Next(rng.Next(2) == 0 ? 4 : 4096);
                var bytes = new byte[t.RawData.Length + extra];
                t.RawData.Span.CopyTo(bytes);
                rng.NextBytes(bytes.AsSpan(t.RawData.Length));
                t.RawData = ByteString.CopyFrom(bytes);
                SetDims(t, bytes.Length);
                (tensor, what) = (t.Name, $"'{t.Name}' grown by {extra} bytes");
                break;
            }
            case MutationKind.WeightShape:
            {
                var t = packed[rng.Next(packed.Count)];
                long[] dims = [.. t.Dims];
                long[] shape = rng.Next(4) switch
                {
                    0 => [.. dims.Reverse()],
                    1 => [.. dims, 1],
                    2 => [dims.Aggregate(1L, (a, b) => a * b)],
                    _ => [.. dims.Select(d => d + rng.Next(-1, 2))],
                };
                t.Dims.Clear();
                t.Dims.AddRange(shape);
                (tensor, what) = (t.Name, $"'{t.Name}' dims [{string.Join(", ", dims)}] → [{string.Join(", ", shape)}]");
                break;
            }
            case MutationKind.WeightDtype:
            {
                var t = packed[rng.Next(packed.Count)];
                int[] types = [1, 3, 7, 10];   // float, int8, int64, float16
                t.DataType = types[rng.Next(types.Length)];
                (tensor, what) = (t.Name, $"'{t.Name}' declared as ONNX type {t.DataType}");
                break;
            }
            case MutationKind.NonFiniteScales:
            {
                var t = packed.FirstOrDefault(p => node.Input.IndexOf(p.Name) == ScaleInput(node)) ?? packed[rng.Next(packed.Count)];
                var bytes = t.RawData.ToByteArray();
                int mode = rng.Next(3);
                for (int i = 0; i < bytes.Length; i++)
                    if (mode == 2 || rng.Next(4) == 0) bytes[i] = mode == 1 ? (byte)(rng.Next(2) == 0 ? 0 : 254) : (byte)0xFF;
                t.RawData = ByteString.CopyFrom(bytes);
                (tensor, what) = (t.Name, mode == 1 ? $"'{t.Name}' scales at the extremes (2^-127 / 2^127)" : $"'{t.Name}' NaN scales (0xFF){(mode == 2 ? ", all" : "")}");
                break;
            }
            case MutationKind.RandomCodes:
            {
                var t = packed[rng.Next(packed.Count)];
                var bytes = new byte[t.RawData.Length];
                rng.NextBytes(bytes);
                t.RawData = ByteString.CopyFrom(bytes);
                (tensor, what) = (t.Name, $"'{t.Name}' random bytes");
                break;
            }
            case MutationKind.InputDropped:
            {
                int i = rng.Next(node.Input.Count);
                string name = node.Input[i];
                if (rng.Next(2) == 0) node.Input[i] = "";
                else node.Input.RemoveAt(i);
                what = $"input {i} ('{name}') dropped";
                break;
            }
            case MutationKind.InputsSwapped:
            {
                int i = rng.Next(node.Input.Count), j = rng.Next(node.Input.Count);
                (node.Input[i], node.Input[j]) = (node.Input[j], node.Input[i]);
                what = $"inputs {i} and {j} swapped";
                break;
            }
            case MutationKind.WeightAsGraphInput:
            {
                var t = packed[rng.Next(packed.Count)];
                model.Graph.Initializer.Remove(t);
                model.Graph.Input.Add(ValueInfos.Tensor(t.Name, t.DataType, [.. t.Dims.Cast<object>()]));
                feeds[t.Name] = new HostTensor(TensorElementType.UInt8, [.. t.Dims], t.RawData.ToByteArray());
                (tensor, what) = (t.Name, $"'{t.Name}' fed at run time instead of an initializer");
                break;
            }
            case MutationKind.RunInputShape:
            {
                var (name, x) = feeds.ElementAt(rng.Next(feeds.Count));
                long[] shape = rng.Next(4) switch
                {
                    0 => [.. x.Shape[..^1], x.Shape[^1] + rng.Next(1, 40)],
                    1 => [0, .. x.Shape[1..]],
                    2 => x.Shape.Length > 1 ? [.. x.Shape[1..]] : [1, .. x.Shape],
                    _ => [.. x.Shape, 2],
                };
                feeds[name] = Random(x.ElementType, shape, rng);
                (tensor, what) = (name, $"run-time input '{name}' shape [{string.Join(", ", shape)}]");
                break;
            }
            default:
            {
                var (name, x) = feeds.ElementAt(rng.Next(feeds.Count));
                var y = new HostTensor(x.ElementType, x.Shape, (byte[])x.Data.Clone());
                if (y.ElementType == TensorElementType.Int64)
                {
                    var idx = y.AsSpan<long>();
                    idx[rng.Next(idx.Length)] = rng.Next(3) switch { 0 => long.MaxValue, 1 => long.MinValue, _ => rng.Next(-40, 40) };
                }
                else
                {
                    var v = y.AsSpan<float>();
                    float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, 1e-45f, -0f];
                    for (int i = 0; i < v.Length; i += 1 + rng.Next(7)) v[i] = specials[rng.Next(specials.Length)];
                }
                feeds[name] = y;
                (tensor, what) = (name, $"run-time input '{name}' special values");
                break;
            }
        }
        return new Mutant(seed, kind, what, model.ToByteArray(), feeds, tensor);
    }

    /// <summary>Replaces the attribute's value with one chosen to break validation; returns it as text.</summary>
    private static string FlipValue(AttributeProto a, Random rng)
    {
        switch (a.Type)
        {
            case AttributeProto.Types.AttributeType.Int:
                long[] ints = [0, -1, 1, a.I + 1, a.I - 1, a.I * 2, 7, 16, 64, 1L << 31, long.MaxValue, long.MinValue, -a.I];
                a.I = ints[rng.Next(ints.Length)];
                return a.I.ToString(System.Globalization.CultureInfo.InvariantCulture);
            case AttributeProto.Types.AttributeType.Float:
                float[] floats = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1e30f, -3f];
                a.F = floats[rng.Next(floats.Length)];
                return a.F.ToString(System.Globalization.CultureInfo.InvariantCulture);
            case AttributeProto.Types.AttributeType.String:
                string[] names = ["", "bogus", "MXFP4_E2M1", "mxint8", "floor", "away", .. MxFormats.All.Select(f => f.Name)];
                a.S = ByteString.CopyFromUtf8(names[rng.Next(names.Length)]);
                return $"'{a.S.ToStringUtf8()}'";
            default:
                long[][] lists = [[], [0], [-1, 40, 3], [4, 40], [4, 40, 3, 1], [int.MaxValue, int.MaxValue], [4, 41, 3]];
                a.Ints.Clear();
                a.Ints.AddRange(lists[rng.Next(lists.Length)]);
                return $"[{string.Join(", ", a.Ints)}]";
        }
    }

    /// <summary>The index of the node input holding the scales (MxMatMul/MxGather/MxDequantize: 2/1/1).</summary>
    private static int ScaleInput(NodeProto node) => node.OpType == "MxMatMul" ? 2 : 1;

    private static void SetDims(TensorProto t, long length)
    {
        t.Dims.Clear();
        t.Dims.Add(length);
    }

    private static HostTensor Random(TensorElementType type, long[] shape, Random rng)
    {
        var t = HostTensor.Zeros(type, shape);
        if (type == TensorElementType.Int64)
        {
            var s = t.AsSpan<long>();
            for (int i = 0; i < s.Length; i++) s[i] = rng.Next(-3, 9);
        }
        else
        {
            var s = t.AsSpan<float>();
            for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return t;
    }
}
