using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;

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
    public OrtException(OrtErrorCode code, string ortMessage, string message, Exception? inner = null) : base(message, inner)
    {
        Code = code;
        OrtMessage = ortMessage;
    }

    /// <summary>ORT's error code.</summary>
    public OrtErrorCode Code { get; }

    /// <summary>ORT's error message, unchanged.</summary>
    public string OrtMessage { get; }
}

/// <summary>Reads Microsoft.ML.OnnxRuntime's exceptions, whose message is <c>[ErrorCode:Name] ORT's message</c>.</summary>
public static partial class OrtExceptions
{
    [GeneratedRegex(@"^\[ErrorCode:(\w+)\] ?", RegexOptions.CultureInvariant)]
    private static partial Regex Prefix();

    /// <summary>The error code (<see cref="OrtErrorCode.Fail"/> when the name is not one of ours) and ORT's message without the prefix.</summary>
    public static (OrtErrorCode Code, string Message) Split(OnnxRuntimeException e)
    {
        var m = Prefix().Match(e.Message);
        if (!m.Success) return (OrtErrorCode.Fail, e.Message);
        var code = Enum.TryParse(m.Groups[1].Value, out OrtErrorCode c) ? c : OrtErrorCode.Fail;
        return (code, e.Message[m.Length..]);
    }
}

/// <summary>ONNX Runtime's native library could not be loaded, is too old for the custom-op bridge, or is not the only copy in the process.</summary>
public sealed class OrtLibraryException(string message) : Exception(message);
