using Microsoft.ML.OnnxRuntime;
using Mx.Calibration.Data;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime;
using Mx.Runtime.Ops;
using Mx.Runtime.Ort;

namespace Mx.Calibration.Tests;

/// <summary>Helpers: run a model in ORT, seeded samples, fake-quantize with the quantizer (an independent path).</summary>
internal static class TestModels
{
    public static HostTensorSession Session(OnnxModel model, bool optimize = true)
    {
        using var options = HostTensorSession.CreateOptions();
        if (!optimize) options.GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL;
        return HostTensorSession.FromBytes(model.ToBytes(), options);
    }

    public static CalibrationSamples Random(OnnxModel model, int count, int seed) =>
        new(RandomSamples.Create(ModelInputs.Of(model), count, seed), "test", true);

    /// <summary>The first output of every sample, flattened.</summary>
    public static float[][] Outputs(OnnxModel model, CalibrationSamples samples, bool optimize = true)
    {
        using var s = Session(model, optimize);
        string output = s.Outputs[0].Name;
        return samples.Samples.Select(x => s.Run(x, [output])[0].ToFloatArray()).ToArray();
    }

    /// <summary>A copy of <paramref name="model"/> quantized by ModelQuantizer with emit=fake under <paramref name="plan"/>.</summary>
    public static OnnxModel FakeQuantized(OnnxModel model, Func<QuantizationOptions, QuantizationPlan> plan)
    {
        var copy = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(copy, plan(new QuantizationOptions { Emit = EmitForm.Fake }));
        return copy;
    }

    public static double Mse(float[][] a, float[][] b)
    {
        double sse = 0;
        long n = 0;
        for (int s = 0; s < a.Length; s++)
            for (int i = 0; i < a[s].Length; i++)
            {
                double d = a[s][i] - (double)b[s][i];
                sse += d * d;
                n++;
            }
        return sse / n;
    }
}
