using Mx.Runtime.Formats;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>Where the packed bytes of one op input live: ORT's tensor memory and its byte count (no copy).</summary>
internal readonly record struct PackedBuffer(nint Data, long Length, string Shape)
{
    /// <summary>A view of an input tensor that must be uint8.</summary>
    public static PackedBuffer Of(KernelTensor t, string role)
    {
        if (t.ElementType != TensorElementType.UInt8)
            throw new ArgumentException($"{role} must be uint8, got {t.ElementType.OnnxName()}[{string.Join(", ", t.Shape)}]");
        return new PackedBuffer(t.Data, t.ElementCount, $"[{string.Join(", ", t.Shape)}]");
    }

    /// <summary>Throws unless this buffer holds exactly <paramref name="expected"/> bytes.</summary>
    public void Expect(string role, long expected, string because)
    {
        if (Length != expected)
            throw new ArgumentException($"{role} has {Length} bytes (shape {Shape}) but {because} needs {expected} bytes");
    }
}

/// <summary>Reading packed inputs at kernel creation: constant (initializer) inputs, with errors naming the input.</summary>
internal static class PackedInputs
{
    /// <summary>Input <paramref name="index"/> as a constant packed buffer; throws when it is absent or not constant.</summary>
    public static PackedBuffer RequireConstant(KernelInfo info, int index, string role, string opName)
    {
        if (!info.TryGetConstantInput(index, out var t))
            throw new ArgumentException($"input {index} ({role}) must be a constant initializer: {opName} reads its packed weights in place at session creation");
        return PackedBuffer.Of(t, $"input {index} ({role})");
    }

    /// <summary>Input <paramref name="index"/> as a constant packed buffer when it is one; null when absent or computed.</summary>
    public static PackedBuffer? TryConstant(KernelInfo info, int index, string role) =>
        info.TryGetConstantInput(index, out var t) ? PackedBuffer.Of(t, $"input {index} ({role})") : null;

    /// <summary>The micro-exponent bytes one row of <paramref name="layout"/> needs (0 for formats without them).</summary>
    public static long MicroRowBytes(MxPackedLayout layout) => (long)layout.BlocksPerRow * layout.MicroBytesPerBlock;
}
