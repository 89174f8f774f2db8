using System.Runtime.InteropServices;

namespace Mx.Onnx.Quantization;

/// <summary>
/// Drops the pages of a memory-mapped tensor from this process once it has been quantized. Mapped file pages that
/// were read count towards the resident set until unmapped, so without this a pass over a multi-gigabyte model would
/// grow the process to the model's size; the data stays in the page cache and is re-read on demand if touched again.
/// </summary>
internal static partial class MappedPages
{
    private const int MadvDontNeed = 4;

    public static unsafe void Release(ReadOnlyMemory<byte> memory)
    {
        if (!OperatingSystem.IsLinux() || memory.Length == 0 || MemoryMarshal.TryGetArray(memory, out _)) return;
        long page = Environment.SystemPageSize;
        fixed (byte* p = memory.Span)
        {
            // Only whole pages inside the range: neighbouring tensors may share the first and last page.
            long start = ((long)p + page - 1) / page * page;
            long end = ((long)p + memory.Length) / page * page;
            if (end > start) _ = Madvise((nint)start, (nuint)(end - start), MadvDontNeed);
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
