using System.Runtime.InteropServices;
using System.Text;

namespace Mx.Runtime.Ort;

/// <summary>
/// Typed calls into the <c>OrtApi</c> table (<see cref="OrtApiTable"/>) by slot index: the slots the custom-op bridge
/// needs, all of C API version <see cref="OrtApiTable.MinimumApiVersion"/> or older unless marked (slots never move,
/// see ../shared/reference/ort-c-api-v30-index.txt). Handles are plain pointers here; the public types own them.
/// Every returned <c>OrtStatus*</c> goes through <see cref="Check"/>.
/// </summary>
internal static unsafe class OrtNative
{
    private static nint* T => OrtApiTable.Api;

    // ---- statuses ----
    public static nint CreateStatus(OrtErrorCode code, byte* utf8Message) => ((delegate* unmanaged<int, byte*, nint>)T[0])((int)code, utf8Message);
    public static OrtErrorCode GetErrorCode(nint status) => (OrtErrorCode)((delegate* unmanaged<nint, int>)T[1])(status);
    public static byte* GetErrorMessage(nint status) => ((delegate* unmanaged<nint, byte*>)T[2])(status);
    public static void ReleaseStatus(nint status) => ((delegate* unmanaged<nint, void>)T[93])(status);

    /// <summary>Throws <see cref="OrtException"/> when <paramref name="status"/> is an error, releasing it; <paramref name="what"/> says what was being done.</summary>
    public static void Check(nint status, string? what = null)
    {
        if (status != 0) throw TakeError(status, what);
    }

    /// <summary>Reads code and message of an error status, releases it and returns the exception.</summary>
    public static OrtException TakeError(nint status, string? what)
    {
        OrtErrorCode code = GetErrorCode(status);
        string message = Marshal.PtrToStringUTF8((nint)GetErrorMessage(status)) ?? "";
        ReleaseStatus(status);
        return new OrtException(code, message, what is null ? $"ONNX Runtime: {message}" : $"{what}: {message}");
    }

    /// <summary>Releases an error status nobody needs (e.g. a missing optional attribute).</summary>
    public static void Discard(nint status)
    {
        if (status != 0) ReleaseStatus(status);
    }

    /// <summary>Makes an <c>ORT_FAIL</c> status carrying <paramref name="message"/> (ORT copies the text).</summary>
    public static nint MakeStatus(string message)
    {
        byte[] utf8 = Utf8Z(message);
        fixed (byte* p = utf8) return CreateStatus(OrtErrorCode.Fail, p);
    }

    /// <summary>UTF-8 bytes with a terminating NUL.</summary>
    public static byte[] Utf8Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    // ---- custom-op domains ----
    public static nint CreateCustomOpDomain(byte* domain, out nint result) { nint x; nint s = ((delegate* unmanaged<byte*, nint*, nint>)T[26])(domain, &x); result = x; return s; }
    public static nint CustomOpDomainAdd(nint domain, void* op) => ((delegate* unmanaged<nint, void*, nint>)T[27])(domain, op);
    public static nint AddCustomOpDomain(nint options, nint domain) => ((delegate* unmanaged<nint, nint, nint>)T[28])(options, domain);

    // ---- tensors and values ----
    public static nint GetTensorMutableData(nint value, out void* data) { void* x; nint s = ((delegate* unmanaged<nint, void**, nint>)T[51])(value, &x); data = x; return s; }
    public static nint GetTensorElementType(nint info, out int ortType) { int x; nint s = ((delegate* unmanaged<nint, int*, nint>)T[60])(info, &x); ortType = x; return s; }
    public static nint GetDimensionsCount(nint info, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[61])(info, &x); n = x; return s; }
    public static nint GetDimensions(nint info, long* dims, nuint n) => ((delegate* unmanaged<nint, long*, nuint, nint>)T[62])(info, dims, n);
    public static nint GetTensorTypeAndShape(nint value, out nint info) { nint x; nint s = ((delegate* unmanaged<nint, nint*, nint>)T[65])(value, &x); info = x; return s; }
    public static void ReleaseTensorTypeAndShapeInfo(nint info) => ((delegate* unmanaged<nint, void>)T[99])(info);

    /// <summary>
    /// The data of a read-only value (a kernel input or constant): <c>GetTensorData</c> where the host has it (API 23),
    /// else <c>GetTensorMutableData</c>, which older hosts accept for the same values (the data is only read).
    /// </summary>
    public static nint GetTensorData(nint value, out void* data)
    {
        if (OrtApiTable.HostApiVersion < OrtApiTable.GetTensorDataVersion) return GetTensorMutableData(value, out data);
        void* x;
        nint s = ((delegate* unmanaged<nint, void**, nint>)T[378])(value, &x);
        data = x;
        return s;
    }

    // ---- custom-op kernels ----
    public static nint KernelInfoGetAttributeFloat(nint info, byte* name, out float v) { float x; nint s = ((delegate* unmanaged<nint, byte*, float*, nint>)T[85])(info, name, &x); v = x; return s; }
    public static nint KernelInfoGetAttributeInt64(nint info, byte* name, out long v) { long x; nint s = ((delegate* unmanaged<nint, byte*, long*, nint>)T[86])(info, name, &x); v = x; return s; }
    public static nint KernelInfoGetAttributeString(nint info, byte* name, byte* buffer, nuint* size) => ((delegate* unmanaged<nint, byte*, byte*, nuint*, nint>)T[87])(info, name, buffer, size);
    public static nint KernelContextGetInputCount(nint ctx, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[88])(ctx, &x); n = x; return s; }
    public static nint KernelContextGetOutputCount(nint ctx, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[89])(ctx, &x); n = x; return s; }
    public static nint KernelContextGetInput(nint ctx, nuint i, out nint value) { nint x; nint s = ((delegate* unmanaged<nint, nuint, nint*, nint>)T[90])(ctx, i, &x); value = x; return s; }
    public static nint KernelContextGetOutput(nint ctx, nuint i, long* dims, nuint rank, out nint value) { nint x; nint s = ((delegate* unmanaged<nint, nuint, long*, nuint, nint*, nint>)T[91])(ctx, i, dims, rank, &x); value = x; return s; }
    public static nint KernelInfoGetAttributeArrayFloat(nint info, byte* name, float* values, nuint* size) => ((delegate* unmanaged<nint, byte*, float*, nuint*, nint>)T[162])(info, name, values, size);
    public static nint KernelInfoGetAttributeArrayInt64(nint info, byte* name, long* values, nuint* size) => ((delegate* unmanaged<nint, byte*, long*, nuint*, nint>)T[163])(info, name, values, size);
    public static nint KernelInfoGetInputCount(nint info, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[230])(info, &x); n = x; return s; }
    public static nint KernelInfoGetOutputCount(nint info, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[231])(info, &x); n = x; return s; }
    public static nint KernelInfoGetNodeName(nint info, byte* buffer, nuint* size) => ((delegate* unmanaged<nint, byte*, nuint*, nint>)T[244])(info, buffer, size);
    public static nint KernelInfoGetConstantInputTensor(nint info, nuint i, out int isConstant, out nint value) { int c; nint x; nint s = ((delegate* unmanaged<nint, nuint, int*, nint*, nint>)T[249])(info, i, &c, &x); isConstant = c; value = x; return s; }
    public static nint KernelContextParallelFor(nint ctx, delegate* unmanaged<void*, nuint, void> fn, nuint total, nuint batches, void* state) =>
        ((delegate* unmanaged<nint, delegate* unmanaged<void*, nuint, void>, nuint, nuint, void*, nint>)T[274])(ctx, fn, total, batches, state);
}
