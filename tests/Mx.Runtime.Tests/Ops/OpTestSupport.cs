using Mx.Runtime.Formats;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;
using Mx.Runtime.Tests.Ort;

namespace Mx.Runtime.Tests.Ops;

/// <summary>
/// A matrix of <see cref="Rows"/> rows of <see cref="K"/> values packed along K by the formats library
/// (<see cref="MxQuantizer"/>), with its dequantized values (also the formats library, independent of the GEMM kernels).
/// </summary>
internal sealed class PackedMatrix
{
    public PackedMatrix(MxFormat format, int rows, int k, int blockSize, int seed, MxScaleMode scaleMode = MxScaleMode.Floor)
    {
        var rng = new Random(seed);
        Source = new float[rows * k];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < k; i++)   // magnitudes vary by block, so many different scales occur
                Source[r * k + i] = (float)(Gaussian(rng) * Math.Pow(2, (r * 5 + i / blockSize * 3) % 9 - 4));
        Format = format;
        Rows = rows;
        K = k;
        BlockSize = blockSize;
        Packed = MxQuantizer.Quantize(Source, [rows, k], new MxQuantizeOptions(format) { BlockSize = blockSize, Axis = 1, ScaleMode = scaleMode });
        Dequantized = MxQuantizer.Dequantize(Packed);
    }

    public MxFormat Format { get; }
    public int Rows { get; }
    public int K { get; }
    public int BlockSize { get; }
    public float[] Source { get; }
    public MxPackedTensor Packed { get; }
    /// <summary>[Rows, K] row-major.</summary>
    public float[] Dequantized { get; }
    public bool HasMicro => Packed.Micro.Length > 0;

    public HostTensor Elements => new(TensorElementType.UInt8, [Rows, Packed.Layout.RowBytes], Packed.Elements.ToArray());
    public HostTensor Scales => new(TensorElementType.UInt8, [Rows, Packed.Layout.BlocksPerRow], Packed.Scales.ToArray());
    public HostTensor Micro => new(TensorElementType.UInt8, [Rows, Packed.Layout.BlocksPerRow * Packed.Layout.MicroBytesPerBlock], Packed.Micro.ToArray());

    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    public static float[] RandomFloats(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)Gaussian(rng)).ToArray();
    }
}

/// <summary>Builds the test models and sessions for the mx.onnx ops.</summary>
internal static class OpModels
{
    public static HostTensorSession Session(byte[] model, int? threads = null)
    {
        using var options = HostTensorSession.CreateOptions(threads);
        return HostTensorSession.FromBytes(model, options);
    }

    public static TestModelWriter Writer() => new TestModelWriter().Opset(MxOps.DomainName, MxOps.DomainVersion);

    /// <summary>
    /// One MxMatMul node "mm0": A (dims <paramref name="aDims"/>, last = K) · W (packed rows = N) [+ bias], Y [..., N].
    /// The attributes K, N, format and block_size come from <paramref name="w"/> unless overridden in <paramref name="attributes"/>.
    /// </summary>
    public static byte[] MatMul(PackedMatrix w, object?[] aDims, float[]? bias, params (string Name, object Value)[] attributes)
    {
        var m = Writer().Input("A", TensorElementType.Float, aDims)
            .Output("Y", TensorElementType.Float, [.. aDims[..^1], (long)w.Rows])
            .Initializer("W_e", w.Elements).Initializer("W_s", w.Scales);
        var inputs = new List<string> { "A", "W_e", "W_s" };
        if (bias != null) m.Initializer("bias", HostTensor.FromFloats(bias, bias.Length));
        if (bias != null || w.HasMicro) inputs.Add(bias != null ? "bias" : "");   // an absent optional input is an empty name
        if (w.HasMicro)
        {
            m.Initializer("W_m", w.Micro);
            inputs.Add("W_m");
        }
        var attrs = new Dictionary<string, object> { ["format"] = w.Format.Name, ["block_size"] = (long)w.BlockSize, ["K"] = (long)w.K, ["N"] = (long)w.Rows };
        foreach (var (name, value) in attributes) attrs[name] = value;
        return m.Node("MxMatMul", [.. inputs], ["Y"], "mm0", MxOps.DomainName, [.. attrs.Select(kv => (kv.Key, kv.Value))]).ToBytes();
    }

    /// <summary>Y = A · B + bias with ORT's own MatMul (and Add) on a float32 B [K, N]: the independent reference.</summary>
    public static byte[] FloatMatMul(float[] bKn, int k, int n, object?[] aDims, float[]? bias)
    {
        var m = new TestModelWriter().Input("A", TensorElementType.Float, aDims)
            .Output("Y", TensorElementType.Float, [.. aDims[..^1], (long)n])
            .Initializer("B", HostTensor.FromFloats(bKn, k, n));
        if (bias == null) return m.Node("MatMul", ["A", "B"], ["Y"], "ref").ToBytes();
        return m.Initializer("bias", HostTensor.FromFloats(bias, n))
            .Node("MatMul", ["A", "B"], ["AB"], "ref").Node("Add", ["AB", "bias"], ["Y"], "refAdd").ToBytes();
    }

    /// <summary>W as ORT's MatMul wants it: [K, N] from the packed rows' dequantized [N, K].</summary>
    public static float[] Transposed(PackedMatrix w)
    {
        var b = new float[w.K * w.Rows];
        for (int n = 0; n < w.Rows; n++)
            for (int k = 0; k < w.K; k++) b[k * w.Rows + n] = w.Dequantized[n * w.K + k];
        return b;
    }

    public static float[] RunY(HostTensorSession s, HostTensor a) => s.Run(new Dictionary<string, HostTensor> { ["A"] = a })["Y"].AsSpan<float>().ToArray();

    /// <summary>alpha · (A · Wᵀ) + beta · bias in double, W = the dequantized packed rows [N, K].</summary>
    public static double[] Reference(float[] a, int m, PackedMatrix w, float[]? bias, double alpha = 1, double beta = 1, float[]? wValues = null)
    {
        wValues ??= w.Dequantized;
        var y = new double[m * w.Rows];
        for (int r = 0; r < m; r++)
            for (int n = 0; n < w.Rows; n++)
            {
                double s = 0;
                for (int i = 0; i < w.K; i++) s += (double)a[r * w.K + i] * wValues[n * w.K + i];
                y[r * w.Rows + n] = alpha * s + (bias != null ? beta * bias[n] : 0);
            }
        return y;
    }

    /// <summary>Largest |got − want| of a row divided by the rms of that row of <paramref name="want"/>.</summary>
    public static double WorstRelativeError(float[] got, double[] want, int n)
    {
        Assert.That(got, Has.Length.EqualTo(want.Length), "output size");
        double worst = 0;
        for (int r = 0; r < want.Length / Math.Max(n, 1); r++)
        {
            double ss = 0, err = 0;
            for (int c = 0; c < n; c++)
            {
                ss += want[r * n + c] * want[r * n + c];
                err = Math.Max(err, Math.Abs(got[r * n + c] - want[r * n + c]));
            }
            double rms = Math.Sqrt(ss / n);
            worst = Math.Max(worst, rms == 0 ? err : err / rms);
        }
        return worst;
    }
}
