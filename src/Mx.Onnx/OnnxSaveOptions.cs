namespace Mx.Onnx;

/// <summary>How <see cref="OnnxModel.Save"/> writes a model and its external data.</summary>
public sealed record OnnxSaveOptions
{
    /// <summary>The largest protobuf that can be written or read: 2 GiB - 1 bytes.</summary>
    public const long ProtobufLimit = int.MaxValue;

    /// <summary>
    /// Tensors with more bytes than this are written to the external data file, the rest inline. Null (default) keeps
    /// each tensor where it is: inline stays inline, external stays external (rewritten into the new data file).
    /// Either way, when the model would not fit in <see cref="MaxProtobufBytes"/>, <see cref="FallbackExternalDataThreshold"/> applies instead.
    /// </summary>
    public long? ExternalDataThreshold { get; init; }

    /// <summary>
    /// The threshold used instead of <see cref="ExternalDataThreshold"/> when the model would not fit in
    /// <see cref="MaxProtobufBytes"/>: tensors above this many bytes then go to external data. Default 1024.
    /// </summary>
    public long FallbackExternalDataThreshold { get; init; } = 1024;

    /// <summary>File name of the external data file, written beside the model; default the model's file name + ".data".</summary>
    public string? ExternalDataFileName { get; init; }

    /// <summary>Offsets of tensors in the data file are multiples of this (so they can be mapped page-aligned). Default 4096.</summary>
    public int Alignment { get; init; } = 4096;

    /// <summary>The protobuf size above which tensors are moved to external data automatically. Default and maximum <see cref="ProtobufLimit"/>.</summary>
    public long MaxProtobufBytes { get; init; } = ProtobufLimit;
}
