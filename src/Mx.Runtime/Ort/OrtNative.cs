using System.Runtime.InteropServices;
using System.Text;

namespace Mx.Runtime.Ort;

/// <summary>
/// Typed calls into the <c>OrtApi</c> table by slot index (API version 30; slots never move, see
/// ../shared/reference/ort-c-api-v30-index.txt). Handles are plain pointers here; the public types own them.
/// Every returned <c>OrtStatus*</c> goes through <see cref="Check"/>.
/// </summary>
internal static unsafe class OrtNative
{
    private static nint* T => OrtLibrary.Api;

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

    // ---- environment, options, sessions ----
    public static nint CreateEnv(int logLevel, byte* logId, out nint env) { nint e; nint s = ((delegate* unmanaged<int, byte*, nint*, nint>)T[3])(logLevel, logId, &e); env = e; return s; }
    public static nint CreateSession(nint env, byte* path, nint options, out nint session) { nint x; nint s = ((delegate* unmanaged<nint, byte*, nint, nint*, nint>)T[7])(env, path, options, &x); session = x; return s; }
    public static nint CreateSessionFromArray(nint env, void* data, nuint length, nint options, out nint session) { nint x; nint s = ((delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)T[8])(env, data, length, options, &x); session = x; return s; }
    public static nint Run(nint session, nint runOptions, byte** inputNames, nint* inputs, nuint inputCount, byte** outputNames, nuint outputCount, nint* outputs) =>
        ((delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)T[9])(session, runOptions, inputNames, inputs, inputCount, outputNames, outputCount, outputs);
    public static nint CreateSessionOptions(out nint options) { nint x; nint s = ((delegate* unmanaged<nint*, nint>)T[10])(&x); options = x; return s; }
    public static nint SetSessionExecutionMode(nint options, int mode) => ((delegate* unmanaged<nint, int, nint>)T[13])(options, mode);
    public static nint SetSessionGraphOptimizationLevel(nint options, int level) => ((delegate* unmanaged<nint, int, nint>)T[23])(options, level);
    public static nint SetIntraOpNumThreads(nint options, int n) => ((delegate* unmanaged<nint, int, nint>)T[24])(options, n);
    public static nint SetInterOpNumThreads(nint options, int n) => ((delegate* unmanaged<nint, int, nint>)T[25])(options, n);
    public static nint CreateCustomOpDomain(byte* domain, out nint result) { nint x; nint s = ((delegate* unmanaged<byte*, nint*, nint>)T[26])(domain, &x); result = x; return s; }
    public static nint CustomOpDomainAdd(nint domain, void* op) => ((delegate* unmanaged<nint, void*, nint>)T[27])(domain, op);
    public static nint AddCustomOpDomain(nint options, nint domain) => ((delegate* unmanaged<nint, nint, nint>)T[28])(options, domain);
    public static nint AddSessionConfigEntry(nint options, byte* key, byte* value) => ((delegate* unmanaged<nint, byte*, byte*, nint>)T[130])(options, key, value);
    public static void ReleaseSession(nint session) => ((delegate* unmanaged<nint, void>)T[95])(session);
    public static void ReleaseSessionOptions(nint options) => ((delegate* unmanaged<nint, void>)T[100])(options);
    public static void ReleaseCustomOpDomain(nint domain) => ((delegate* unmanaged<nint, void>)T[101])(domain);

    // ---- session metadata ----
    public static nint SessionGetInputCount(nint session, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[30])(session, &x); n = x; return s; }
    public static nint SessionGetOutputCount(nint session, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[31])(session, &x); n = x; return s; }
    public static nint SessionGetInputTypeInfo(nint session, nuint i, out nint info) { nint x; nint s = ((delegate* unmanaged<nint, nuint, nint*, nint>)T[33])(session, i, &x); info = x; return s; }
    public static nint SessionGetOutputTypeInfo(nint session, nuint i, out nint info) { nint x; nint s = ((delegate* unmanaged<nint, nuint, nint*, nint>)T[34])(session, i, &x); info = x; return s; }
    public static nint SessionGetInputName(nint session, nuint i, nint allocator, out byte* name) { byte* x; nint s = ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)T[36])(session, i, allocator, &x); name = x; return s; }
    public static nint SessionGetOutputName(nint session, nuint i, nint allocator, out byte* name) { byte* x; nint s = ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)T[37])(session, i, allocator, &x); name = x; return s; }
    public static nint AllocatorFree(nint allocator, void* p) => ((delegate* unmanaged<nint, void*, nint>)T[76])(allocator, p);
    public static nint GetAllocatorWithDefaultOptions(out nint allocator) { nint x; nint s = ((delegate* unmanaged<nint*, nint>)T[78])(&x); allocator = x; return s; }
    public static nint CastTypeInfoToTensorInfo(nint typeInfo, out nint tensorInfo) { nint x; nint s = ((delegate* unmanaged<nint, nint*, nint>)T[55])(typeInfo, &x); tensorInfo = x; return s; }
    public static nint GetOnnxTypeFromTypeInfo(nint typeInfo, out int onnxType) { int x; nint s = ((delegate* unmanaged<nint, int*, nint>)T[56])(typeInfo, &x); onnxType = x; return s; }
    public static void ReleaseTypeInfo(nint typeInfo) => ((delegate* unmanaged<nint, void>)T[98])(typeInfo);

    // ---- tensors and values ----
    public static nint CreateTensorWithDataAsOrtValue(nint memoryInfo, void* data, nuint byteLength, long* shape, nuint rank, int ortType, out nint value)
    { nint x; nint s = ((delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)T[49])(memoryInfo, data, byteLength, shape, rank, ortType, &x); value = x; return s; }
    public static nint GetTensorMutableData(nint value, out void* data) { void* x; nint s = ((delegate* unmanaged<nint, void**, nint>)T[51])(value, &x); data = x; return s; }
    public static nint GetTensorElementType(nint info, out int ortType) { int x; nint s = ((delegate* unmanaged<nint, int*, nint>)T[60])(info, &x); ortType = x; return s; }
    public static nint GetDimensionsCount(nint info, out nuint n) { nuint x; nint s = ((delegate* unmanaged<nint, nuint*, nint>)T[61])(info, &x); n = x; return s; }
    public static nint GetDimensions(nint info, long* dims, nuint n) => ((delegate* unmanaged<nint, long*, nuint, nint>)T[62])(info, dims, n);
    public static nint GetSymbolicDimensions(nint info, byte** names, nuint n) => ((delegate* unmanaged<nint, byte**, nuint, nint>)T[63])(info, names, n);
    public static nint GetTensorTypeAndShape(nint value, out nint info) { nint x; nint s = ((delegate* unmanaged<nint, nint*, nint>)T[65])(value, &x); info = x; return s; }
    public static nint GetValueType(nint value, out int onnxType) { int x; nint s = ((delegate* unmanaged<nint, int*, nint>)T[67])(value, &x); onnxType = x; return s; }
    public static nint CreateCpuMemoryInfo(int allocatorType, int memType, out nint info) { nint x; nint s = ((delegate* unmanaged<int, int, nint*, nint>)T[69])(allocatorType, memType, &x); info = x; return s; }
    public static void ReleaseValue(nint value) => ((delegate* unmanaged<nint, void>)T[96])(value);
    public static void ReleaseTensorTypeAndShapeInfo(nint info) => ((delegate* unmanaged<nint, void>)T[99])(info);
    public static nint GetTensorData(nint value, out void* data) { void* x; nint s = ((delegate* unmanaged<nint, void**, nint>)T[378])(value, &x); data = x; return s; }

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
