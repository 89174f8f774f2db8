using Microsoft.ML.OnnxRuntime;
using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// The MX custom ops (docs/ops.md) as one ONNX Runtime custom-op domain, <c>mx.onnx</c> version 1, and the one call
/// that makes sessions of Microsoft's ONNX Runtime packages able to run packed MX models:
/// <c>new SessionOptions().RegisterMxOps()</c>.
/// </summary>
public static class MxOps
{
    /// <summary>The domain name models import: <c>opset_import { domain: "mx.onnx" version: 1 }</c>.</summary>
    public const string DomainName = "mx.onnx";

    /// <summary>The domain's opset version.</summary>
    public const int DomainVersion = 1;

    private static readonly Lazy<CustomOpDomain> s_domain = new(() => new CustomOpDomain(DomainName, Definitions()));
    private static readonly Lazy<CustomOpDomain> s_cudaDomain = new(() => new CustomOpDomain(DomainName,
        MxMatMulOp.Create(MxOpsDevice.Cuda), MxGatherOp.Create(), MxDequantizeOp.Create(), MxQuantizeDequantizeOp.Create()));

    /// <summary>
    /// The process-wide domain holding the four ops. Created on first use and never released: every session options
    /// object it was added to, and every session made from them, may refer to it for as long as the process lives.
    /// </summary>
    public static CustomOpDomain Domain => s_domain.Value;

    /// <summary>The four op definitions, in the order they are registered.</summary>
    internal static CustomOpDefinition[] Definitions() =>
        [MxMatMulOp.Definition, MxGatherOp.Definition, MxDequantizeOp.Definition, MxQuantizeDequantizeOp.Definition];

    /// <summary>
    /// Adds the MX ops to <paramref name="options"/>. Works with Microsoft.ML.OnnxRuntime and .Gpu alike (the ops call
    /// the native library that the managed package loaded), for any number of sessions made from the options, on any
    /// threads. Registering the same options again does nothing.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="OrtLibraryException">ONNX Runtime's native library is missing or older than the ops need.</exception>
    /// <exception cref="OrtException">ORT refused the domain.</exception>
    public static void Register(SessionOptions options) => Register(options, MxOpsDevice.Cpu);

    /// <summary>
    /// Adds the MX ops to <paramref name="options"/> computing on <paramref name="device"/> (see <see cref="MxOpsDevice"/>).
    /// One options object gets one registration: asking for another device on the same options is refused.
    /// </summary>
    /// <exception cref="InvalidOperationException">The options already have the MX ops for the other device.</exception>
    public static void Register(SessionOptions options, MxOpsDevice device)
    {
        ArgumentNullException.ThrowIfNull(options);
        (device == MxOpsDevice.Cuda ? s_cudaDomain.Value : Domain).AddTo(options);
    }

    /// <summary>Adds the MX ops to <paramref name="options"/> (see <see cref="Register(SessionOptions)"/>) and returns the same options.</summary>
    public static SessionOptions RegisterMxOps(this SessionOptions options) => options.RegisterMxOps(MxOpsDevice.Cpu);

    /// <summary>Adds the MX ops computing on <paramref name="device"/> (see <see cref="Register(SessionOptions, MxOpsDevice)"/>) and returns the same options.</summary>
    public static SessionOptions RegisterMxOps(this SessionOptions options, MxOpsDevice device)
    {
        Register(options, device);
        return options;
    }
}
