namespace Mx.Onnx;

/// <summary>
/// A model file, its external data or its contents are not what ONNX allows. The message names the file and, where
/// there is one, the tensor or node at fault, and says what is wrong.
/// </summary>
public sealed class OnnxFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnnxFormatException(string message, Exception? inner = null) : base(message, inner) { }
}
