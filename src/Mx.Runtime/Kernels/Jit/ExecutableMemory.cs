using System.Runtime.InteropServices;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>
/// Pages of machine code: mapped writable, filled, then made read+execute (never writable and executable at once).
/// Generated kernels live for the whole process (they are few and small and cached by shape), so nothing is unmapped.
/// Linux x64 only; <see cref="IsAvailable"/> says whether this process can map executable pages at all (a hardened
/// system may forbid it, and then the managed kernels run).
/// </summary>
internal static unsafe partial class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;
    private static readonly object Gate = new();
    private static long s_used, s_size;

    private static readonly Lazy<string?> Unavailable = new(Probe);

    /// <summary>Whether code can be generated here (Linux x64, and mmap/mprotect allow executable pages).</summary>
    public static bool IsAvailable => Unavailable.Value == null;

    /// <summary>Why code cannot be generated here, or null.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    /// <summary>Copies <paramref name="code"/> into executable memory and returns its address.</summary>
    /// <exception cref="InvalidOperationException">The system refused executable memory.</exception>
    public static nint Commit(ReadOnlySpan<byte> code)
    {
        if (!IsAvailable) throw new InvalidOperationException($"generated kernels are unavailable: {UnavailableReason}");
        return CommitUnchecked(code);
    }

    private static nint CommitUnchecked(ReadOnlySpan<byte> code)
    {
        long page = Environment.SystemPageSize;
        long size = (code.Length + page - 1) / page * page;
        // Each kernel gets its own pages: writing one never needs another's pages writable again.
        byte* p = (byte*)Mmap(null, (nuint)size, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == (byte*)-1) throw new InvalidOperationException($"mmap of {size} bytes failed (errno {Marshal.GetLastPInvokeError()})");
        code.CopyTo(new Span<byte>(p, code.Length));
        if (Mprotect(p, (nuint)size, ProtRead | ProtExec) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Munmap(p, (nuint)size);
            throw new InvalidOperationException($"mprotect(PROT_EXEC) failed (errno {errno})");
        }
        lock (Gate) { s_used += code.Length; s_size += size; }
        return (nint)p;
    }

    /// <summary>Bytes of generated code and of mapped pages so far (for diagnostics).</summary>
    public static (long Code, long Mapped) Usage { get { lock (Gate) return (s_used, s_size); } }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return $"generated kernels need Linux x64 (this is {RuntimeInformation.OSDescription}, {RuntimeInformation.ProcessArchitecture})";
        try
        {
            // mov eax, 42; ret
            nint f = CommitUnchecked([0xB8, 42, 0, 0, 0, 0xC3]);
            int r = ((delegate* unmanaged<int>)f)();
            return r == 42 ? null : $"a generated test function returned {r}, not 42";
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
        {
            return e.Message;
        }
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(void* addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(void* addr, nuint length);
}
