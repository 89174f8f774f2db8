using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Mx.Runtime.Ort;

/// <summary>
/// Carries a managed loop body through <c>KernelContext_ParallelFor</c>: ORT calls <see cref="Invoke"/> with a
/// GCHandle to the loop state; the body's first exception is kept there (nothing may escape into native code) and
/// rethrown on the calling thread.
/// </summary>
internal static unsafe class ParallelForBridge
{
    private sealed class State(Action<int> body)
    {
        public readonly Action<int> Body = body;
        public ExceptionDispatchInfo? Error;
    }

    public static void Run(nint context, int count, Action<int> body, string where)
    {
        var state = new State(body);
        var handle = GCHandle.Alloc(state);
        try
        {
            // num_batch = 0: ORT schedules each index as its own unit of work.
            OrtNative.Check(OrtNative.KernelContextParallelFor(context, &Invoke, (nuint)count, 0, (void*)GCHandle.ToIntPtr(handle)), $"{where}: parallel for");
        }
        finally
        {
            handle.Free();
        }
        state.Error?.Throw();
    }

    [UnmanagedCallersOnly]
    private static void Invoke(void* user, nuint index)
    {
        State? state = null;
        try
        {
            state = (State)GCHandle.FromIntPtr((nint)user).Target!;
            if (Volatile.Read(ref state.Error) != null) return;
            state.Body((int)index);
        }
        catch (Exception e)
        {
            if (state != null) Interlocked.CompareExchange(ref state.Error, ExceptionDispatchInfo.Capture(e), null);
        }
    }
}
