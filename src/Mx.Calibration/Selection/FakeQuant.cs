using Mx.Onnx.Quantization;
using Mx.Runtime.Formats;

namespace Mx.Calibration.Selection;

/// <summary>A weight's MX-dequantized values, computed exactly as the quantizer's fake emit does (same layout, same codec).</summary>
public static class FakeQuant
{
    /// <summary>Quantizes <paramref name="values"/> (viewed as <paramref name="layout"/>) with <paramref name="settings"/> and dequantizes them.</summary>
    public static float[] Apply(ReadOnlySpan<float> values, WeightLayout layout, TensorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(settings);
        var packed = MxQuantizer.Quantize(values, layout.BlockShape, new MxQuantizeOptions(settings.Format)
        {
            Axis = layout.Axis,
            BlockSize = settings.BlockSize,
            ScaleMode = settings.ScaleMode,
            Rounding = settings.Rounding,
        });
        return MxQuantizer.Dequantize(packed);
    }
}
