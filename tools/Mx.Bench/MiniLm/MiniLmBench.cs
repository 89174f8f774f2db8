using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Bench.MiniLm;

/// <summary>
/// <c>mx bench calibrate --model minilm</c>: all-MiniLM-L6-v2 calibrated on real text (full 64-token sequences), timed,
/// then the mean-pooled sentence embedding error of the automatic choice and of uniform MXFP4 on held-out sequences.
/// </summary>
public static class MiniLmBench
{
    /// <summary>The calibration figures and a line with the held-out embedding errors.</summary>
    /// <exception cref="InvalidOperationException">The package is not restored.</exception>
    public static (CalibrateBenchRow Row, string Accuracy) Run(double maxBits, int samples, Action<string>? log = null)
    {
        var files = MiniLmModel.Extract(out string? why) ?? throw new InvalidOperationException(why);
        var tokenizer = WordPieceTokenizer.FromFile(files.Vocabulary);
        int heldOut = TextSamples.Available(tokenizer, 64) - samples;
        if (heldOut < 1) throw new InvalidOperationException($"the text holds {TextSamples.Available(tokenizer, 64)} sequences; {samples} for calibration leave none held out");
        var calibration = TextSamples.Sequences(tokenizer, 64, 0, samples);
        var evaluation = TextSamples.Sequences(tokenizer, 64, samples, heldOut);
        using var model = OnnxModel.Load(files.Model);
        var row = CalibrateBench.Run("all-MiniLM-L6-v2", model, calibration, Budget.Bits(maxBits), log: log);
        var reference = EmbeddingError.Embeddings(model, evaluation);
        var options = new QuantizationOptions { Emit = EmitForm.Fake };
        using var auto = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(auto, RecipeApplier.Apply(auto, row.Recipe, new QuantizationPlan(options)));
        using var uniform = OnnxModel.FromBytes(model.ToBytes());
        var fp4 = ModelQuantizer.Quantize(uniform, new QuantizationPlan(options with { Format = MxFormats.Mxfp4E2M1 }));
        var a = EmbeddingError.Compare(reference, EmbeddingError.Embeddings(auto, evaluation));
        var u = EmbeddingError.Compare(reference, EmbeddingError.Embeddings(uniform, evaluation));
        double uniformBits = row.Recipe.Uniform.FirstOrDefault(x => x.Format == "mxfp4_e2m1")?.Bits ?? double.NaN;
        return (row, $"held-out embeddings ({heldOut} sequences): auto {row.AverageBits:F3} bits rel-L2 {a.RelL2:F4} worst cosine {a.WorstCosine:F4}; " +
                     $"uniform MXFP4 ({uniformBits:F3} bits over the calibrated weights) rel-L2 {u.RelL2:F4} worst cosine {u.WorstCosine:F4}");
    }
}
