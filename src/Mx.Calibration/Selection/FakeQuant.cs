using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>A weight's MX-dequantized values, computed exactly as the quantizer's fake emit does (same layout, same codec).</summary>
public static class FakeQuant
{
    /// <summary>Quantizes <paramref name="values"/> (viewed as <paramref name="layout"/>) with <paramref name="settings"/> and dequantizes them.</summary>
    public static float[] Apply(ReadOnlySpan<float> values, WeightLayout layout, TensorSettings settings) => MxQuantizer.Dequantize(Pack(values, layout, settings));

    /// <summary>As <see cref="Apply"/>, writing the dequantized values into <paramref name="destination"/> (as long as <paramref name="values"/>).</summary>
    public static void ApplyTo(ReadOnlySpan<float> values, WeightLayout layout, TensorSettings settings, Span<float> destination) =>
        MxQuantizer.Dequantize(Pack(values, layout, settings), destination);

    private static MxPackedTensor Pack(ReadOnlySpan<float> values, WeightLayout layout, TensorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(settings);
        return MxQuantizer.Quantize(values, layout.BlockShape, new MxQuantizeOptions(settings.Format)
        {
            Axis = layout.Axis,
            BlockSize = settings.BlockSize,
            ScaleMode = settings.ScaleMode,
            Rounding = settings.Rounding,
        });
    }
}
