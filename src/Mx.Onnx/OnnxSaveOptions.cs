namespace Mx.Onnx;

/// <summary>How <see cref="OnnxModel.Save"/> writes a model and its external data.</summary>
public sealed record OnnxSaveOptions
{
    /// <summary>The largest protobuf that can be written or read: 2 GiB - 1 bytes.</summary>
    public const long ProtobufLimit = int.MaxValue;

    /// <summary>
    /// Tensors with more bytes than this are written to the external data file, the rest inline. Null (default) keeps
    /// each tensor where it is: inline stays inline, external stays external (rewritten into the new data file).
    /// Either way, when the model would not fit in <see cref="MaxProtobufBytes"/>, the largest tensors move out until it does.
    /// </summary>
    public long? ExternalDataThreshold { get; init; }

    /// <summary>File name of the external data file, written beside the model; default the model's file name + ".data".</summary>
    public string? ExternalDataFileName { get; init; }

    /// <summary>Offsets of tensors in the data file are multiples of this (so they can be mapped page-aligned). Default 4096.</summary>
    public int Alignment { get; init; } = 4096;

    /// <summary>The protobuf size above which tensors are moved to external data automatically. Default and maximum <see cref="ProtobufLimit"/>.</summary>
    public long MaxProtobufBytes { get; init; } = ProtobufLimit;
}
