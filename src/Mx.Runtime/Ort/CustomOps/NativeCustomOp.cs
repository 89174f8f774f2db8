using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// The <c>OrtCustomOp</c> block ORT reads for one <see cref="CustomOpDefinition"/>: 208 bytes of version and function
/// pointers (layout of API versions 18..30, see ../shared/reference/ort-c-api.md; declared as version 17, whose
/// fields end at GetEndVersion) followed by a GCHandle to the
/// definition, in native memory that is never moved or freed, so it outlives every session. The callbacks are
/// [UnmanagedCallersOnly] statics; each catches everything, since an exception leaving one kills the process.
/// </summary>
internal sealed unsafe class NativeCustomOp
{
    private const int StructSize = 208;
    private const int HandleOffset = StructSize;
    private const uint DeclaredVersion = OrtApiTable.MinimumApiVersion;   // ORT reads only the fields of that version

    private readonly int[] _inputTypes;
    private readonly int[] _outputTypes;

    private NativeCustomOp(CustomOpDefinition op)
    {
        Definition = op;
        _inputTypes = op.Inputs.Select(p => OrtElementTypes.ToOrt(p.ElementType)).ToArray();
        _outputTypes = op.Outputs.Select(p => OrtElementTypes.ToOrt(p.ElementType)).ToArray();
        NameUtf8 = AllocUtf8(op.Name);

        byte* b = (byte*)NativeMemory.AllocZeroed((nuint)(StructSize + sizeof(nint)));
        *(uint*)b = DeclaredVersion;
        var fn = (nint*)b;
        fn[2] = (nint)(delegate* unmanaged<void*, byte*>)&GetName;
        fn[3] = (nint)(delegate* unmanaged<void*, byte*>)&GetExecutionProviderType;
        fn[4] = (nint)(delegate* unmanaged<void*, nuint, int>)&GetInputType;
        fn[5] = (nint)(delegate* unmanaged<void*, nuint>)&GetInputTypeCount;
        fn[6] = (nint)(delegate* unmanaged<void*, nuint, int>)&GetOutputType;
        fn[7] = (nint)(delegate* unmanaged<void*, nuint>)&GetOutputTypeCount;
        fn[9] = (nint)(delegate* unmanaged<void*, void>)&KernelDestroy;
        fn[10] = (nint)(delegate* unmanaged<void*, nuint, int>)&GetInputCharacteristic;
        fn[11] = (nint)(delegate* unmanaged<void*, nuint, int>)&GetOutputCharacteristic;
        fn[12] = (nint)(delegate* unmanaged<void*, nuint, int>)&GetInputMemoryType;
        fn[13] = (nint)(delegate* unmanaged<void*, int>)&GetVariadicInputMinArity;
        fn[14] = (nint)(delegate* unmanaged<void*, int>)&GetVariadicInputHomogeneity;
        fn[15] = (nint)(delegate* unmanaged<void*, int>)&GetVariadicOutputMinArity;
        fn[16] = (nint)(delegate* unmanaged<void*, int>)&GetVariadicOutputHomogeneity;
        fn[17] = (nint)(delegate* unmanaged<void*, nint, nint, nint*, nint>)&CreateKernelV2;
        fn[18] = (nint)(delegate* unmanaged<nint, nint, nint>)&KernelComputeV2;
        fn[20] = (nint)(delegate* unmanaged<void*, int>)&GetStartVersion;
        fn[21] = (nint)(delegate* unmanaged<void*, int>)&GetEndVersion;
        // The definition stays reachable for the life of the process through this normal handle.
        *(nint*)(b + HandleOffset) = GCHandle.ToIntPtr(GCHandle.Alloc(this));
        Block = b;
    }

    /// <summary>The native <c>OrtCustomOp*</c>.</summary>
    public byte* Block { get; }

    public CustomOpDefinition Definition { get; }

    private byte* NameUtf8 { get; }

    /// <summary>The native block of <paramref name="op"/>, made on first use (thread-safe).</summary>
    public static NativeCustomOp For(CustomOpDefinition op)
    {
        lock (op)
        {
            return op.Native ??= new NativeCustomOp(op);
        }
    }

    private static byte* AllocUtf8(string s)
    {
        byte[] utf8 = OrtNative.Utf8Z(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)utf8.Length);
        utf8.CopyTo(new Span<byte>(p, utf8.Length));
        return p;
    }

    private static NativeCustomOp? Of(void* op)
    {
        try
        {
            return (NativeCustomOp?)GCHandle.FromIntPtr(*(nint*)((byte*)op + HandleOffset)).Target;
        }
        catch
        {
            return null;
        }
    }

    // ---- description callbacks: plain reads; on any failure answer something harmless ----

    [UnmanagedCallersOnly]
    private static byte* GetName(void* op) => Of(op) is { } n ? n.NameUtf8 : null;

    // ORT 1.30 calls this without checking the pointer; a NULL answer means the CPU provider.
    [UnmanagedCallersOnly]
    private static byte* GetExecutionProviderType(void* op) => null;

    [UnmanagedCallersOnly]
    private static int GetInputType(void* op, nuint i) => Of(op) is { } n && i < (nuint)n._inputTypes.Length ? n._inputTypes[(int)i] : 0;

    [UnmanagedCallersOnly]
    private static nuint GetInputTypeCount(void* op) => Of(op) is { } n ? (nuint)n._inputTypes.Length : 0;

    [UnmanagedCallersOnly]
    private static int GetOutputType(void* op, nuint i) => Of(op) is { } n && i < (nuint)n._outputTypes.Length ? n._outputTypes[(int)i] : 0;

    [UnmanagedCallersOnly]
    private static nuint GetOutputTypeCount(void* op) => Of(op) is { } n ? (nuint)n._outputTypes.Length : 0;

    [UnmanagedCallersOnly]
    private static int GetInputCharacteristic(void* op, nuint i) => Of(op) is { } n && i < (nuint)n.Definition.Inputs.Count ? (int)n.Definition.Inputs[(int)i].Arity : 0;

    [UnmanagedCallersOnly]
    private static int GetOutputCharacteristic(void* op, nuint i) => Of(op) is { } n && i < (nuint)n.Definition.Outputs.Count ? (int)n.Definition.Outputs[(int)i].Arity : 0;

    [UnmanagedCallersOnly]
    private static int GetInputMemoryType(void* op, nuint i) => 0; // OrtMemTypeDefault: inputs in the provider's (CPU) memory

    [UnmanagedCallersOnly]
    private static int GetVariadicInputMinArity(void* op) => Of(op) is { } n && n.Definition.Inputs.Count > 0 ? n.Definition.Inputs[^1].MinArity : 1;

    [UnmanagedCallersOnly]
    private static int GetVariadicInputHomogeneity(void* op) => Of(op) is { } n && n.Definition.Inputs.Count > 0 && !n.Definition.Inputs[^1].Homogeneous ? 0 : 1;

    [UnmanagedCallersOnly]
    private static int GetVariadicOutputMinArity(void* op) => Of(op) is { } n && n.Definition.Outputs.Count > 0 ? n.Definition.Outputs[^1].MinArity : 1;

    [UnmanagedCallersOnly]
    private static int GetVariadicOutputHomogeneity(void* op) => Of(op) is { } n && n.Definition.Outputs.Count > 0 && !n.Definition.Outputs[^1].Homogeneous ? 0 : 1;

    [UnmanagedCallersOnly]
    private static int GetStartVersion(void* op) => Of(op) is { } n ? n.Definition.SinceVersion : 1;

    [UnmanagedCallersOnly]
    private static int GetEndVersion(void* op) => Of(op) is { } n ? n.Definition.EndVersion : int.MaxValue;

    // ---- kernels ----

    /// <summary>What ORT holds as the kernel pointer: the managed kernel and the words that name it in errors.</summary>
    private sealed class KernelBox(ICustomKernel kernel, string where)
    {
        public readonly ICustomKernel Kernel = kernel;
        public readonly string Where = where;
    }

    [UnmanagedCallersOnly]
    private static nint CreateKernelV2(void* op, nint api, nint info, nint* kernel)
    {
        string where = "custom op";
        try
        {
            *kernel = 0;
            var native = Of(op) ?? throw new InvalidOperationException("custom op block has no definition");
            where = native.Definition.ToString();
            var kernelInfo = new KernelInfo(info, native.Definition);
            where = $"{native.Definition} node '{kernelInfo.NodeName}'";
            ICustomKernel created;
            try
            {
                created = native.Definition.CreateKernel(kernelInfo) ?? throw new InvalidOperationException("the kernel factory returned null");
            }
            finally
            {
                kernelInfo.Invalidate();
            }
            *kernel = GCHandle.ToIntPtr(GCHandle.Alloc(new KernelBox(created, where)));
            return 0;
        }
        catch (Exception e)
        {
            return SafeStatus($"{where}: kernel creation failed: {e.Message}");
        }
    }

    [UnmanagedCallersOnly]
    private static nint KernelComputeV2(nint kernel, nint context)
    {
        string where = "custom op";
        try
        {
            var box = (KernelBox)GCHandle.FromIntPtr(kernel).Target!;
            where = box.Where;
            box.Kernel.Compute(new KernelContext(context, where));
            return 0;
        }
        catch (Exception e)
        {
            return SafeStatus($"{where}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly]
    private static void KernelDestroy(void* kernel)
    {
        try
        {
            if (kernel == null) return;
            var handle = GCHandle.FromIntPtr((nint)kernel);
            var box = (KernelBox?)handle.Target;
            handle.Free();
            (box?.Kernel as IDisposable)?.Dispose();
        }
        catch
        {
            // A failing Dispose cannot be reported (ORT's destroy returns nothing) and must not escape.
        }
    }

    /// <summary>An ORT_FAIL status with the message; never throws.</summary>
    private static nint SafeStatus(string message)
    {
        try
        {
            return OrtNative.MakeStatus(message);
        }
        catch
        {
            try
            {
                return OrtNative.MakeStatus("custom op failed (and its error message could not be passed on)");
            }
            catch
            {
                return 0; // unreachable in practice: the API table is loaded whenever a callback runs
            }
        }
    }
}
