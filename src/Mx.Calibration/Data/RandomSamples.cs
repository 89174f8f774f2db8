using Mx.Runtime;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Data;

/// <summary>
/// Seeded random inputs, used only when asked for (<c>--calib random</c>): floats from a standard normal, integers
/// uniform in [0, 100) (a guess at token ids; the report says the choice rests on random data). Dynamic dimensions are 1.
/// </summary>
public static class RandomSamples
{
    /// <summary><paramref name="count"/> samples for <paramref name="inputs"/>.</summary>
    /// <exception cref="InvalidDataException">An input's element type cannot be drawn; the message names the input.</exception>
    public static IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Create(IReadOnlyList<OrtTensorInfo> inputs, int count, int seed)
    {
        var rng = new Random(seed);
        var result = new List<IReadOnlyDictionary<string, HostTensor>>();
        for (int s = 0; s < count; s++)
            result.Add(inputs.Where(i => i.IsTensor).ToDictionary(i => i.Name, i => Draw(i, rng), StringComparer.Ordinal));
        return result;
    }

    private static HostTensor Draw(OrtTensorInfo input, Random rng)
    {
        long[] shape = input.Shape.Select(d => d < 0 ? 1 : d).ToArray();
        long n = HostTensor.ElementCountOf(shape);
        switch (input.ElementType)
        {
            case TensorElementType.Float:
                var f = new float[n];
                for (long i = 0; i < n; i++) f[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
                return HostTensor.FromFloats(f, shape);
            case TensorElementType.Int64:
                var t = HostTensor.Zeros(TensorElementType.Int64, shape);
                var span = t.AsSpan<long>();
                for (int i = 0; i < span.Length; i++) span[i] = rng.Next(100);
                return t;
            case TensorElementType.Int32:
                var t32 = HostTensor.Zeros(TensorElementType.Int32, shape);
                var s32 = t32.AsSpan<int>();
                for (int i = 0; i < s32.Length; i++) s32[i] = rng.Next(100);
                return t32;
            default:
                throw new InvalidDataException($"input {input}: random calibration data of type {input.ElementType.OnnxName()} is not supported; give --calib a folder");
        }
    }
}
