using Mx.Calibration.Selection;
using Mx.Onnx.Quantization;

namespace Mx.Calibration.Capture;

/// <summary>
/// Which captured layer input each use of a weight reads: per weight name, one <see cref="WeightUseInput"/> per use
/// (every constant of the name, every layout group), with the reason when the input cannot be captured. A weight's
/// H is then <c>capture.Inputs[use.Input.Key].Hessian(group)</c> — what layer-local errors use, and what GPTQ needs.
/// </summary>
public static class WeightInputs
{
    /// <summary>The uses of the weights named in <paramref name="names"/> among <paramref name="found"/> (<see cref="WeightFinder.Find"/> of the captured model).</summary>
    public static Dictionary<string, IReadOnlyList<WeightUseInput>> Of(IReadOnlyList<WeightCandidate> found, IReadOnlySet<string> names)
    {
        ArgumentNullException.ThrowIfNull(found);
        ArgumentNullException.ThrowIfNull(names);
        var result = new Dictionary<string, IReadOnlyList<WeightUseInput>>(StringComparer.Ordinal);
        foreach (var named in found.Where(c => names.Contains(c.Name)).GroupBy(c => c.Name, StringComparer.Ordinal))
        {
            var list = new List<WeightUseInput>();
            foreach (var c in named)
                foreach (var g in c.Groups)
                    foreach (var use in g.Uses)
                    {
                        LayerInput? input;
                        string? why;
                        try
                        {
                            input = LayerInput.Of(use, g.Layout, c.Shape, v => use.Graph.IsConstant(v), out why);
                        }
                        catch (ArgumentException ex)
                        {
                            (input, why) = (null, ex.Message);
                        }
                        list.Add(new WeightUseInput(WeightUseInput.KeyOf(use), input, why));
                    }
            result[named.Key] = list;
        }
        return result;
    }
}
