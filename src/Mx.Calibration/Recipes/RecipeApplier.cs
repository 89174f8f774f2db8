using Mx.Calibration.Ocs;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Recipes;

/// <summary>
/// Applies a recipe: rewrites the recorded channel splits into the model (in place), then returns the plan with one
/// override per recipe tensor (its format and, when the recipe chose one, the activation format of its op), for
/// <see cref="ModelQuantizer.Quantize"/>.
/// </summary>
public static class RecipeApplier
{
    /// <summary>Applies the splits of <paramref name="recipe"/> to <paramref name="model"/> and returns <paramref name="plan"/> with the recipe's per-tensor settings.</summary>
    /// <exception cref="InvalidDataException">A recipe tensor is not in the model or its split does not fit; the message names it.</exception>
    public static QuantizationPlan Apply(OnnxModel model, CalibrationRecipe recipe, QuantizationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(recipe);
        ArgumentNullException.ThrowIfNull(plan);
        var names = WeightFinder.Find(model).Candidates.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in recipe.Tensors)
            if (!names.Contains(t.Name))
                throw new InvalidDataException($"{model.Source}: the recipe names weight '{t.Name}', which the model does not have (a recipe for another model?)");
        // Weight-side splits first, then activation-side ones, each in recipe order: the order the calibrator applied them.
        foreach (var t in recipe.Tensors.Where(t => t.Ocs != null).OrderBy(t => t.OcsSide == OcsSide.Activation ? 1 : 0))
        {
            try
            {
                float[]? values = null;
                if (t.OcsSide == OcsSide.Weight && t.OcsMode == OcsSplitMode.Qa)
                {
                    var target = OcsTarget.Get(model, t.Name);
                    t.Ocs!.Validate(target.View.K, $"OCS map of '{t.Name}'");
                    values = QaSplit.Apply(model.ReadFloat32(model.FindInitializer(t.Name)!), target.View, t.Ocs, t.OcsReference!);
                }
                OcsRewriter.Apply(model, t.Name, t.Ocs!, t.OcsSide, values);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"recipe tensor '{t.Name}': cannot apply its channel split: {ex.Message}", ex);
            }
        }
        // Excluded weights stay float32, as the calibration left them.
        return plan.WithOverrides(recipe.Tensors.Select(t => new KeyValuePair<string, TensorSettings?>(t.Name, WithActivation(t)))
            .Concat(recipe.Excluded.Select(e => new KeyValuePair<string, TensorSettings?>(e.Name, null))));
    }

    // The weight's settings with the recipe's activation format (float32 weights leave their op, and its activation, alone).
    private static TensorSettings? WithActivation(RecipeTensor t)
    {
        if (t.Settings is null || t.Activation is not { Chosen: true } a) return t.Settings;
        return a.Settings is null ? t.Settings with { ActFloat32 = true } : t.Settings with { ActFormat = a.Settings.Format };
    }
}
