using Microsoft.ML.OnnxRuntime;

namespace Mx.Samples;

/// <summary>
/// What both sample apps do once their session options can run the mx.onnx ops:
/// <c>run MODEL INPUTS OUTPUTS</c> makes seeded float inputs (open dimensions = 2), writes them as INPUTS/&lt;name&gt;.npy,
/// runs the model and writes OUTPUTS/&lt;name&gt;.npy; <c>compare OUTPUTS EXPECTED</c> prints each output's relative L2
/// error against another folder (e.g. what `mx run` wrote for the same inputs) and fails above 1e-6.
/// </summary>
internal static class SampleApp
{
    public static int Main(string[] args, Func<SessionOptions> options)
    {
        if (args is ["run", var model, var inputs, var outputs]) return Run(model, inputs, outputs, options);
        if (args is ["compare", var got, var expected]) return Compare(got, expected);
        Console.Error.WriteLine("usage: run MODEL INPUT_DIR OUTPUT_DIR | compare OUTPUT_DIR EXPECTED_DIR");
        return 2;
    }

    private static int Run(string model, string inputDir, string outputDir, Func<SessionOptions> makeOptions)
    {
        using var options = makeOptions();
        using var session = new InferenceSession(model, options);
        Directory.CreateDirectory(inputDir);
        Directory.CreateDirectory(outputDir);
        var rng = new Random(42);
        var names = new List<string>();
        var values = new List<OrtValue>();
        foreach (var (name, meta) in session.InputMetadata)
        {
            long[] shape = meta.Dimensions.Select(d => d > 0 ? (long)d : 2).ToArray();
            float[] x = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            NpyFloats.Write(Path.Combine(inputDir, name + ".npy"), x, shape);
            names.Add(name);
            values.Add(OrtValue.CreateTensorValueFromMemory(x, shape));
        }
        using var outputs = session.Run(new RunOptions(), names, values, session.OutputNames);
        for (int i = 0; i < outputs.Count; i++)
        {
            string name = session.OutputNames[i];
            NpyFloats.Write(Path.Combine(outputDir, name + ".npy"), outputs[i].GetTensorDataAsSpan<float>().ToArray(), outputs[i].GetTensorTypeAndShape().Shape);
            Console.WriteLine($"{name}: [{string.Join(", ", outputs[i].GetTensorTypeAndShape().Shape)}]");
        }
        foreach (var v in values) v.Dispose();
        return 0;
    }

    private static int Compare(string gotDir, string expectedDir)
    {
        int worse = 0;
        foreach (string expected in Directory.GetFiles(expectedDir, "*.npy").Order())
        {
            float[] want = NpyFloats.Read(expected), got = NpyFloats.Read(Path.Combine(gotDir, Path.GetFileName(expected)));
            double err = 0, norm = 0;
            for (int i = 0; i < want.Length; i++)
            {
                err += (got[i] - (double)want[i]) * (got[i] - (double)want[i]);
                norm += want[i] * (double)want[i];
            }
            double rel = got.Length == want.Length ? Math.Sqrt(err / Math.Max(norm, double.Epsilon)) : double.PositiveInfinity;
            Console.WriteLine($"{Path.GetFileNameWithoutExtension(expected)}: relative L2 error {NpyFloats.Text(rel)}");
            if (!(rel <= 1e-6)) worse++;
        }
        return worse == 0 ? 0 : 1;
    }
}
