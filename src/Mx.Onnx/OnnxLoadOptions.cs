namespace Mx.Onnx;

/// <summary>How <see cref="OnnxModel.Load"/> reads a model.</summary>
public sealed record OnnxLoadOptions
{
    /// <summary>
    /// Resolve and check every external tensor while loading (missing or truncated files, locations outside the
    /// model's folder) so that errors surface at load. When false, they surface at the first read. Default true.
    /// </summary>
    public bool ValidateExternalData { get; init; } = true;

    /// <summary>The folder external data locations are relative to; default the model file's folder.</summary>
    public string? ExternalDataFolder { get; init; }
}
