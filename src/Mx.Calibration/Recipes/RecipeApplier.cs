using Mx.Calibration.Ocs;
using Mx.Onnx;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Recipes;

/// <summary>
/// Applies a recipe: rewrites the recorded channel splits into the model (in place), then returns the plan with one
/// override per recipe tensor, for <see cref="ModelQuantizer.Quantize"/>.
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
        foreach (var t in recipe.Tensors.Where(t => t.Ocs != null))
        {
            try
            {
                OcsRewriter.Apply(model, t.Name, t.Ocs!);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"recipe tensor '{t.Name}': cannot apply its channel split: {ex.Message}", ex);
            }
        }
        return plan.WithOverrides(recipe.Tensors.Select(t => new KeyValuePair<string, TensorSettings?>(t.Name, t.Settings)));
    }
}
