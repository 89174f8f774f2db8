namespace Mx.Onnx.Quantization;

/// <summary>A model or a plan that cannot be quantized as asked; the message names the model, tensor or node.</summary>
public sealed class QuantizationException(string message, Exception? inner = null) : Exception(message, inner);
