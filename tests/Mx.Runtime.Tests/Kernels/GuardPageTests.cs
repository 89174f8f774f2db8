using System.Runtime.InteropServices;
using Mx.Runtime.Kernels;

namespace Mx.Runtime.Tests.Kernels;

/// <summary>
/// The kernels read no byte past a weight's elements or scales: both buffers end exactly where an inaccessible page
/// begins, so a read past the end would fault (and fail the run). Covers the generated kernels' masked tail loads and
/// the managed tail copies, for every integer-valued format, K tails inside a 512-element chunk, and M on both sides of
/// the GEMV / decoded switch. Results must equal the same kernel on ordinary memory.
/// </summary>
public unsafe class GuardPageTests
{
    public static IEnumerable<TestCaseData> Cases() =>
        from f in new[] { ("mxfp4_e2m1", 32), ("mxfp4_e2m1", 64), ("mxint4", 32), ("mxint8", 32), ("mxint8", 64), ("mxfp6_e2m3", 32), ("mxfp6_e2m3", 64), ("mxfp8_e4m3", 32) }
        from k in new[] { 32, 70, 600, 1100 }
        from m in new[] { 1, 5, 20 }
        select new TestCaseData(f.Item1, f.Item2, m, k);

    [TestCaseSource(nameof(Cases))]
    public void NoReadPastTheWeightBuffers(string format, int bs, int m, int k)
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("guard pages via mmap/mprotect: Linux only");
        var p = new GemmProblem(format, bs, m, k, 7, bias: true);
        using var e = new GuardedBuffer(p.Packed.Elements);
        using var s = new GuardedBuffer(p.Packed.Scales);
        using var guarded = MxPackedWeight.FromPointers(p.Format, p.N, p.K, bs, e.Pointer, e.Length, s.Pointer, s.Length);
        using var plain = p.Packed.View();
        foreach (var mode in new[] { MxGemmMode.WeightOnly, MxGemmMode.MxMx })
        {
            var y = new float[m * p.N];
            var want = new float[m * p.N];
            new MxMatMulKernel(guarded, mode).Run(p.A, m, p.Bias, y, SerialRunner.Instance);
            new MxMatMulKernel(plain, mode).Run(p.A, m, p.Bias, want, SerialRunner.Instance);
            Assert.That(y, Is.EqualTo(want).AsCollection, mode.ToString());
        }
    }

    /// <summary>A copy of some bytes that ends at the first byte of a PROT_NONE page.</summary>
    private sealed class GuardedBuffer : IDisposable
    {
        private readonly byte* _map;
        private readonly nuint _size;

        public GuardedBuffer(ReadOnlySpan<byte> data)
        {
            long page = Environment.SystemPageSize;
            long dataPages = (data.Length + page - 1) / page;
            _size = (nuint)((dataPages + 1) * page);
            _map = (byte*)Mmap(null, _size, 3, 0x22, -1, 0);   // PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
            if (_map == (byte*)-1) Assert.Ignore($"mmap failed (errno {Marshal.GetLastPInvokeError()})");
            byte* guard = _map + dataPages * page;
            if (Mprotect(guard, (nuint)page, 0) != 0) Assert.Ignore($"mprotect failed (errno {Marshal.GetLastPInvokeError()})");
            Pointer = (nint)(guard - data.Length);
            Length = data.Length;
            data.CopyTo(new Span<byte>((void*)Pointer, data.Length));
        }

        public nint Pointer { get; }
        public long Length { get; }

        public void Dispose() => Munmap(_map, _size);

        [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
        private static extern void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

        [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
        private static extern int Mprotect(void* addr, nuint length, int prot);

        [DllImport("libc", EntryPoint = "munmap")]
        private static extern int Munmap(void* addr, nuint length);
    }
}
