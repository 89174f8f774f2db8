using Mx.Runtime.Ort;

namespace Mx.Runtime.Ops;

/// <summary>
/// The MX custom ops (docs/ops.md) as one ONNX Runtime custom-op domain, <c>mx.onnx</c> version 1, and the one call
/// that makes a session able to run packed MX models.
/// </summary>
public static class MxOps
{
    /// <summary>The domain name models import: <c>opset_import { domain: "mx.onnx" version: 1 }</c>.</summary>
    public const string DomainName = "mx.onnx";

    /// <summary>The domain's opset version.</summary>
    public const int DomainVersion = 1;

    private static readonly Lazy<CustomOpDomain> s_domain = new(() => new CustomOpDomain(DomainName,
        MxMatMulOp.Definition, MxGatherOp.Definition, MxDequantizeOp.Definition, MxQuantizeDequantizeOp.Definition));

    /// <summary>
    /// The process-wide domain holding the four ops. Created on first use and never released: native session options
    /// registered through <see cref="Register(nint)"/> may refer to it for as long as the process lives.
    /// </summary>
    public static CustomOpDomain Domain => s_domain.Value;

    /// <summary>Adds the MX ops to <paramref name="options"/> (this library's binding); adding twice has no further effect.</summary>
    public static void Register(OrtSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.CustomOpDomains.Contains(Domain)) options.CustomOpDomains.Add(Domain);
    }

    /// <summary>
    /// Adds the MX ops to native ORT session options, an <c>OrtSessionOptions*</c> such as
    /// <c>Microsoft.ML.OnnxRuntime.SessionOptions.DangerousGetHandle()</c> returns. That package and this library must
    /// load the same <c>onnxruntime</c> native library (one process, one copy of ORT). Call it once per options object.
    /// </summary>
    /// <exception cref="ArgumentException">The handle is null.</exception>
    /// <exception cref="OrtException">ORT refused the domain.</exception>
    public static void Register(nint ortSessionOptionsHandle)
    {
        if (ortSessionOptionsHandle == 0) throw new ArgumentException("null OrtSessionOptions handle", nameof(ortSessionOptionsHandle));
        OrtNative.Check(OrtNative.AddCustomOpDomain(ortSessionOptionsHandle, Domain.Handle), $"adding custom-op domain '{DomainName}' to native session options");
    }
}
