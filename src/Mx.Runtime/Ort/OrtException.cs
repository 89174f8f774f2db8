namespace Mx.Runtime.Ort;

/// <summary>ONNX Runtime's <c>OrtErrorCode</c> values, as carried by an <c>OrtStatus</c>.</summary>
public enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    NoSuchFile = 3,
    NoModel = 4,
    EngineError = 5,
    RuntimeException = 6,
    InvalidProtobuf = 7,
    ModelLoaded = 8,
    NotImplemented = 9,
    InvalidGraph = 10,
    EpFail = 11,
    ModelLoadCanceled = 12,
    ModelRequiresCompilation = 13,
    NotFound = 14,
}

/// <summary>An error reported by ONNX Runtime through an <c>OrtStatus</c>: its code and its message.</summary>
public sealed class OrtException : Exception
{
    /// <summary>Creates the exception; <paramref name="message"/> is what the caller shows, <paramref name="ortMessage"/> ORT's own text.</summary>
    public OrtException(OrtErrorCode code, string ortMessage, string message) : base(message)
    {
        Code = code;
        OrtMessage = ortMessage;
    }

    /// <summary>ORT's error code.</summary>
    public OrtErrorCode Code { get; }

    /// <summary>ORT's error message, unchanged.</summary>
    public string OrtMessage { get; }
}

/// <summary>The ONNX Runtime native library could not be loaded, or is too old for the C API version this binding needs.</summary>
public sealed class OrtLibraryException(string message) : Exception(message);
