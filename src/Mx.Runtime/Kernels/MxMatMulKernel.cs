using System.Runtime.CompilerServices;
using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels.Jit;

namespace Mx.Runtime.Kernels;

/// <summary>How a kernel treats the activations.</summary>
public enum MxGemmMode
{
    /// <summary>Activations stay fp32; weights are dequantized in registers (weight-only quantization).</summary>
    WeightOnly,

    /// <summary>
    /// Activations are quantized per call to MXINT8 along K (same block size as the weight, OCP floor scale rule,
    /// round-half-even) and multiplied with integer dot products per block pair (OCP MX dot product semantics).
    /// </summary>
    MxMx,
}

/// <summary>Which implementation a kernel runs.</summary>
public enum MxKernelPath
{
    /// <summary>The fastest path the CPU allows: AVX-512 (F/BW/VBMI), else AVX2/FMA, else the plain reference.</summary>
    Auto,

    /// <summary>The plain scalar reference (double accumulation). For tests and debugging.</summary>
    Reference,

    /// <summary>The AVX2/FMA kernels only (throws <see cref="NotSupportedException"/> where the CPU lacks AVX2/FMA).</summary>
    Avx2,

    /// <summary>
    /// The AVX-512 kernels where a format/layout has one, the AVX2 kernels otherwise (throws
    /// <see cref="NotSupportedException"/> where the CPU lacks AVX-512 F/BW/VBMI or AVX2/FMA).
    /// </summary>
    Avx512,
}

/// <summary>
/// Y[M, N] = A[M, K] · Wᵀ (+ bias[N]) for a packed MX weight W (N rows of K, see <see cref="MxPackedWeight"/>) and fp32
/// row-major A and Y. Immutable after construction: one instance may run on any number of threads at once.
/// Per call it allocates only a small closure, plus pooled scratch for MX×MX activations.
/// </summary>
public sealed unsafe class MxMatMulKernel
{
    private enum DecoderKind { Scalar, Nibble4, Int8, Six6Int, E4M3, E5M2, E3M2, Byte8Gather, Six6Gather }

    private readonly DecoderKind _kind;
    private readonly DecodeLuts _luts;
    private readonly float[] _scaleTable;   // pinned
    private readonly bool _simd;
    private readonly bool _mxmxSimd;
    private readonly bool _avx512;
    private readonly bool _mxmx512;         // MxMxNibble4Avx512 applies
    private readonly int _nibbleOffset;
    private readonly Vector512<byte> _nibbleLut;
    private readonly int _intShift;
    private readonly bool _int8Mx512;      // MxMxInt8Avx512 (AVX-VNNI ymm) applies
    private readonly VnniGemv? _vnni;       // generated AVX512_VNNI MX×MX GEMV (4-bit, MXINT8), where it applies and can run
    private readonly MxMxDecodedVnni? _vnniDecoded;   // generated AVX512_VNNI MX×MX over weights decoded per 4 rows
    private readonly MxMxTileGemm? _vnniTiles;         // generated AVX512_VNNI MX×MX GEMM over 16-row tiles (prefill)
    private readonly int _decodedOffset;    // what the decoded kernel adds to the weights' int values (its activation correction)

    // The AVX-512 MX×MX kernels a call can take; all of them read activations prepared by MxMxNibble4Avx512.Prepare.
    private enum Mx512Kernel { None, VnniGemv, VnniDecoded, VnniTiles, Nibble4Registers, Nibble4Decoded, Int8AvxVnni }
    private readonly bool _wo512;           // WeightOnlyNibble4Avx512 applies
    private readonly Vector512<float> _nibbleFloats;

    /// <summary>A kernel over <paramref name="weight"/> (not owned: keep it alive and undisposed while the kernel runs).</summary>
    public MxMatMulKernel(MxPackedWeight weight, MxGemmMode mode = MxGemmMode.WeightOnly, MxKernelPath path = MxKernelPath.Auto)
    {
        ArgumentNullException.ThrowIfNull(weight);
        Weight = weight;
        Mode = mode;
        var tables = FormatTables.For(weight.Format);
        _kind = ChooseDecoder(weight, tables);
        _luts = new DecodeLuts(tables);
        if (!IsSupported(path)) throw new NotSupportedException($"kernel path {path} is not supported by this CPU");
        bool avx2 = CpuFeatures.Has(IsaFeatures.Avx2 | IsaFeatures.Fma);
        _simd = path != MxKernelPath.Reference && avx2;
        _avx512 = _simd && path != MxKernelPath.Avx2 && MxMxNibble4Avx512.IsSupported;
        _intShift = tables.IntShift;
        if (_avx512 && tables.IntShift >= 0 && weight.Format.ElementBits == 4 && weight.BlockSize is 32 or 64
            && weight.Format.Kind != MxElementKind.SharedMicroExponent)
        {
            int min = 0, max = 0;
            for (int c = 0; c < 16; c++) { min = Math.Min(min, tables.Ints[c]); max = Math.Max(max, tables.Ints[c]); }
            if (max - min <= 64)   // vpmaddubsw: 4 · 64 · 127 < 2^15, no int16 saturation
            {
                _mxmx512 = true;
                _nibbleOffset = -min;
                var lut = new byte[64];
                for (int i = 0; i < 64; i++) lut[i] = (byte)(tables.Ints[i % 16] - min);
                _nibbleLut = Vector512.Create(lut);
            }
        }
        bool int8Blocks = _avx512 && _kind == DecoderKind.Int8 && weight.BlockSize is 32 or 64;
        _int8Mx512 = int8Blocks && MxMxInt8Avx512.IsSupported;
        if (mode == MxGemmMode.MxMx && VnniGemv.IsSupported)
        {
            Span<byte> lut = stackalloc byte[64];
            _nibbleLut.AsByte().CopyTo(lut);
            if (_mxmx512)
            {
                _vnni = VnniGemv.ForNibble4(weight, lut);
                _vnniDecoded = MxMxDecodedVnni.ForNibble4(weight, _nibbleLut);
                _vnniTiles = new MxMxTileGemm(weight, _vnniDecoded.Decoder);
                _decodedOffset = _nibbleOffset;
            }
            else if (int8Blocks)
            {
                _vnni = VnniGemv.ForInt8(weight);
                _vnniDecoded = MxMxDecodedVnni.ForInt8(weight);
                _vnniTiles = new MxMxTileGemm(weight, _vnniDecoded.Decoder);
                _decodedOffset = 128;
            }
            else if (_avx512 && _kind == DecoderKind.Six6Int && weight.BlockSize is 32 or 64 && IntSpan(tables) is var (lo, hi) && hi - lo <= 255)
            {
                for (int c = 0; c < 64; c++) lut[c] = (byte)(tables.Ints[c] - lo);   // value · 2^s + Offset, 64 codes
                _vnni = VnniGemv.ForSix6(weight, lut);
                _vnniDecoded = MxMxDecodedVnni.ForSix6(weight, Vector512.Create((ReadOnlySpan<byte>)lut));
                _vnniTiles = new MxMxTileGemm(weight, _vnniDecoded.Decoder);
                _decodedOffset = -lo;
            }
        }
        if (_avx512 && _kind == DecoderKind.Nibble4)
        {
            _wo512 = true;
            var f = new float[16];
            for (int c = 0; c < 16; c++) f[c] = tables.Ints[c];   // value · 2^IntShift; the scale table carries 2^−IntShift
            _nibbleFloats = Vector512.Create(f);
        }
        _mxmxSimd = _simd && tables.IntShift >= 0 && _kind != DecoderKind.Scalar;
        bool intScaled = _kind is DecoderKind.Nibble4 or DecoderKind.Int8 or DecoderKind.Six6Int;
        _scaleTable = GC.AllocateArray<float>(256, pinned: true);
        for (int b = 0; b < 256; b++)
            _scaleTable[b] = (float)(FormatTables.E8M0Double((byte)b) * (intScaled ? Math.ScaleB(1.0, -tables.IntShift) : 1.0));
        Path = !_simd ? MxKernelPath.Reference : _avx512 ? MxKernelPath.Avx512 : MxKernelPath.Avx2;
    }

    /// <summary>Whether this CPU can run <paramref name="path"/> (Auto and Reference always can).</summary>
    /// <remarks>What the CPU supports is read through <see cref="CpuFeatures"/>, so <c>MX_DISABLE_ISA</c> applies.</remarks>
    public static bool IsSupported(MxKernelPath path) => path switch
    {
        MxKernelPath.Auto or MxKernelPath.Reference => true,
        MxKernelPath.Avx2 => CpuFeatures.Has(IsaFeatures.Avx2 | IsaFeatures.Fma),
        MxKernelPath.Avx512 => CpuFeatures.Has(IsaFeatures.Avx2 | IsaFeatures.Fma) && MxMxNibble4Avx512.IsSupported,
        _ => false,
    };

    /// <summary>
    /// Whether the generated AVX512_VNNI MX×MX kernels run here, and if not, why (for <c>mx info</c>).
    /// </summary>
    public static string GeneratedKernelStatus =>
        VnniGemv.IsSupported ? "avx512vnni MX×MX GEMV (generated x86-64 code)"
        : !CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni) ? "off (needs avx512, avx512vbmi and avx512vnni enabled)"
        : $"off ({ExecutableMemory.UnavailableReason})";

    /// <summary>The packed weight (N = <see cref="MxPackedWeight.Rows"/>, K = <see cref="MxPackedWeight.K"/>).</summary>
    public MxPackedWeight Weight { get; }

    /// <summary>Weight-only or MX×MX.</summary>
    public MxGemmMode Mode { get; }

    /// <summary>The path actually used: Reference, Avx2 or Avx512 (never Auto).</summary>
    public MxKernelPath Path { get; }

    /// <summary>
    /// Which implementation runs, for reports: e.g. "avx2 nibble4-pshufb", "avx2 int8 maddubs", "reference".
    /// </summary>
    public string Implementation => !_simd ? "reference"
        : Mode == MxGemmMode.MxMx && _vnni != null ? $"avx512 {_kind} generated avx512-vnni zmm vpdpbusd GEMV (M ≤ {VnniMaxM}), decoded per 4 rows (M < {TileMinM}), 16-row tiles × 8 rows GEMM (M ≥ {TileMinM})"
        : Mode == MxGemmMode.MxMx && _vnniDecoded != null ? $"avx512 {_kind} decoded once per 4 rows + generated avx512-vnni zmm vpdpbusd (M < {TileMinM}), 16-row tiles × 8 rows GEMM (M ≥ {TileMinM})"
        : Mode == MxGemmMode.MxMx && _int8Mx512 ? "avx512 Int8 avx-vnni vpdpbusd int8-dot (M ≤ 3), avx2 int8-dot (M ≥ 4)"
        : Mode == MxGemmMode.MxMx && _mxmx512 ? $"avx512 {_kind} vpermb+maddubs int8-dot (M ≤ 3 decode in registers, else once per 4 rows)"
        : Mode == MxGemmMode.MxMx ? (_mxmxSimd ? $"avx2 {_kind} int8-dot" : $"avx2 {_kind} on MXINT8-dequantized activations")
        : _avx512 ? (_wo512 ? $"avx512 {_kind} dword-vpermps GEMV (M ≤ 3), avx512 12×32/8×32 tiled (M ≥ 4)" : $"avx2 {_kind} GEMV (M ≤ 3), avx512 12×32/8×32 tiled (M ≥ 4)")
        : $"avx2 {_kind}";

    /// <summary>
    /// The instruction-set features a call with <paramref name="m"/> rows of A executes (activation preparation
    /// included), for reports and benchmarks: e.g. <c>avx2,fma,avx512,avx512vbmi,avx512vnni</c> for 4-bit MX×MX GEMV
    /// on a Zen 4. <see cref="IsaFeatures.None"/> for the plain reference.
    /// </summary>
    public IsaFeatures IsaFor(int m)
    {
        if (!_simd) return IsaFeatures.None;
        const IsaFeatures Avx2Fma = IsaFeatures.Avx2 | IsaFeatures.Fma, Avx512 = Avx2Fma | IsaFeatures.Avx512;
        if (Mode == MxGemmMode.MxMx)
        {
            switch (Choose512(m))
            {
                case Mx512Kernel.VnniGemv or Mx512Kernel.VnniDecoded or Mx512Kernel.VnniTiles: return Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni;
                case Mx512Kernel.Nibble4Registers or Mx512Kernel.Nibble4Decoded: return Avx512 | IsaFeatures.Avx512Vbmi;
                case Mx512Kernel.Int8AvxVnni: return Avx512 | IsaFeatures.AvxVnni;
            }
            if (!_mxmxSimd) return WeightOnlyIsa(m) | (_avx512 ? IsaFeatures.Avx512 : 0);   // + the AVX-512 activation quantizer
            return Avx2Fma;
        }
        return WeightOnlyIsa(m);
    }

    private IsaFeatures WeightOnlyIsa(int m)
    {
        const IsaFeatures Avx2Fma = IsaFeatures.Avx2 | IsaFeatures.Fma;
        if (m <= WeightOnlyGemv.MaxM) return _wo512 ? Avx2Fma | IsaFeatures.Avx512 : Avx2Fma;
        return _avx512 ? Avx2Fma | IsaFeatures.Avx512 : Avx2Fma;
    }

    /// <summary>Computes Y = A · Wᵀ (+ bias).</summary>
    /// <param name="a">[m, K] row-major.</param>
    /// <param name="m">Rows of A (0 allowed: nothing is written).</param>
    /// <param name="bias">[N], or empty for none.</param>
    /// <param name="y">[m, N] row-major, overwritten.</param>
    /// <param name="runner">Parallel-for to use (default: <see cref="ThreadPoolRunner.Default"/>).</param>
    /// <exception cref="ArgumentException">A buffer is too small or bias has the wrong length.</exception>
    public void Run(ReadOnlySpan<float> a, int m, ReadOnlySpan<float> bias, Span<float> y, IParallelRunner? runner = null)
    {
        GemmSpans.Validate(m, Weight.K, Weight.Rows, a.Length, bias.Length, y.Length);
        fixed (float* pa = a)
        fixed (float* pb = bias)
        fixed (float* py = y)
            Run(pa, m, bias.IsEmpty ? null : pb, py, runner);
    }

    /// <summary>Computes Y = A · Wᵀ (+ bias) over raw memory: A [m, K], bias [N] or null, Y [m, N] (e.g. ONNX Runtime tensors).</summary>
    /// <remarks>After warm-up a call allocates nothing: its work items run from a per-thread <see cref="KernelJob"/>.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(float* a, int m, float* bias, float* y, IParallelRunner? runner = null)
    {
        ValidateM(m);
        if (m == 0) return;
        if (a == null) throw new ArgumentNullException(nameof(a));
        if (y == null) throw new ArgumentNullException(nameof(y));
        runner ??= ThreadPoolRunner.Default;
        var g = new GemmArgs(Weight, a, m, bias, y, (float*)Unsafe.AsPointer(ref _scaleTable[0]), _luts);
        KernelJob job = KernelJob.Enter(this, g);
        try
        {
            if (Mode == MxGemmMode.MxMx) RunMxMx(job, runner);
            else RunWeightOnly(job, runner);
        }
        finally
        {
            job.Exit();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunWeightOnly(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        int n = Weight.Rows;
        if (!_simd)
        {
            job.For(runner, n, Chunk(n, 8, runner), &ReferenceWeightOnlyItem);
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM && _wo512)
        {
            RunNibble4GemvAvx512(job, runner);
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM && _kind == DecoderKind.Nibble4)
        {
            RunNibble4Gemv(job, runner);
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM)
        {
            job.For(runner, n, Chunk(n, 16, runner), &GemvItem);
            return;
        }
        if (_avx512)
        {
            RunTiledAvx512(job, runner);
            return;
        }
        int tiles = Count(n, WeightOnlyTiled.NR);
        job.For(runner, tiles, Chunk(tiles, 1, runner), &TiledItem);
    }

    private static void ReferenceWeightOnlyItem(KernelJob j, int i0, int i1) =>
        MxGemmReference.WeightOnly(j.G.W, j.G.A, j.G.M, j.G.Bias, j.G.Y, i0, i1);

    private static void GemvItem(KernelJob j, int i0, int i1) => j.Kernel.Gemv(j.G, i0, i1);

    private static void TiledItem(KernelJob j, int i0, int i1) => j.Kernel.Tiled(j.G, i0, i1);

    private static void RunNibble4Gemv(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        int n = g.W.Rows, k32 = (g.W.K + 31) & ~31;
        float[] rented = ArrayPool<float>.Shared.Rent(g.M * k32);
        try
        {
            fixed (float* aPerm = rented)
            {
                for (int r = 0; r < g.M; r++) Nibble4Gemv.PermuteA(g.A + (long)r * g.W.K, g.W.K, aPerm + (long)r * k32);
                job.P0 = (nint)aPerm;
                job.For(runner, n, Chunk(n, 16, runner), &Nibble4GemvItem);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static void Nibble4GemvItem(KernelJob j, int i0, int i1) => Nibble4Gemv.Run(j.G, (float*)j.P0, i0, i1);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunMxMx(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        if (Choose512(g.M) is var choice && choice != Mx512Kernel.None)
        {
            RunMxMxAvx512(job, runner, choice);
            return;
        }
        if (_simd && !_mxmxSimd)
        {
            RunMxMxViaDequantizedActivations(job, runner);
            return;
        }
        MxPackedWeight w = Weight;
        int m = g.M, n = w.Rows, nb = w.BlocksPerRow;
        long codeBytes = (long)m * w.PaddedK, scaleCount = (long)m * nb;
        if (codeBytes + scaleCount * 5 > int.MaxValue) throw new ArgumentException($"M = {m} is too large for one MX×MX call at K = {w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)(codeBytes + scaleCount * 5 + 4));
        try
        {
            fixed (byte* scratch = rented)
            {
                byte* scaleBytes = scratch + codeBytes;
                job.P0 = (nint)scratch;                                             // codes [m][PaddedK]
                job.P1 = (nint)scaleBytes;                                          // scale bytes [m][nb]
                job.P2 = ((nint)(scaleBytes + scaleCount) + 3) & ~(nint)3;         // activation scales [m][nb], float
                job.Flag = _mxmxSimd && _kind == DecoderKind.Nibble4;              // Nibble4Decoder.SplitOrder
                job.For(runner, m, Chunk(m, 4, runner), &QuantizeActivationRowsItem);
                if (!_mxmxSimd)
                {
                    job.For(runner, n, Chunk(n, 8, runner), &ReferenceMxMxItem);
                    return;
                }
                int perRows = Chunk(n, MxMxGemm.NR, runner);
                job.For(runner, n, (perRows + MxMxGemm.NR - 1) / MxMxGemm.NR * MxMxGemm.NR, &MxMxItem);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void QuantizeActivationRowsItem(KernelJob j, int r0, int r1)
    {
        MxPackedWeight w = j.G.W;
        int nb = w.BlocksPerRow;
        sbyte* codes = (sbyte*)j.P0;
        byte* scales = (byte*)j.P1;
        float* actScale = (float*)j.P2;
        for (int r = r0; r < r1; r++)
        {
            ActivationQuantizer.QuantizeRow(j.G.A + (long)r * w.K, w.K, w.BlockSize, codes + (long)r * w.PaddedK, scales + (long)r * nb);
            if (j.Flag) ActivationQuantizer.SplitEvenOdd(codes + (long)r * w.PaddedK, w.PaddedK);
            for (int b = 0; b < nb; b++)   // activation codes carry 2^-6 (MXINT8)
                actScale[(long)r * nb + b] = FormatTables.E8M0[scales[(long)r * nb + b]] * (1f / 64);
        }
    }

    private static void ReferenceMxMxItem(KernelJob j, int n0, int n1) =>
        MxGemmReference.MxMx(j.G.W, (sbyte*)j.P0, (byte*)j.P1, j.G.M, j.G.Bias, j.G.Y, n0, n1);

    private static void MxMxItem(KernelJob j, int n0, int n1) => j.Kernel.MxMx(j.G, (sbyte*)j.P0, (float*)j.P2, n0, n1);

    private void RunTiledAvx512(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        MxPackedWeight w = Weight;
        long len = WeightOnlyTiledAvx512.PackedALength(g.M, w.K);
        if (len + 16 > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one call at K = {w.K}");
        float[] rented = ArrayPool<float>.Shared.Rent((int)len + 16);
        try
        {
            fixed (float* raw = rented)
            {
                job.P0 = ((nint)raw + 63) & ~(nint)63;
                int mBlocks = Count(g.M, WeightOnlyTiledAvx512.RowGroup(g.M));
                job.For(runner, mBlocks, 1, &PackAItem);
                int tiles = Count(w.Rows, WeightOnlyTiledAvx512.NR);
                job.For(runner, tiles, Chunk(tiles, 1, runner, 2), &Tiled512Item);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static void PackAItem(KernelJob j, int b0, int b1)
    {
        for (int mb = b0; mb < b1; mb++) WeightOnlyTiledAvx512.PackA(j.G.A, j.G.M, j.G.W.K, mb, (float*)j.P0);
    }

    private static void Tiled512Item(KernelJob j, int t0, int t1) => j.Kernel.Tiled512(j.G, (float*)j.P0, t0, t1);

    private void Tiled512(in GemmArgs g, float* apack, int t0, int t1)
    {
        switch (_kind)
        {
            case DecoderKind.Nibble4: WeightOnlyTiledAvx512.Run<Nibble4Decoder>(g, apack, t0, t1); break;
            case DecoderKind.Int8: WeightOnlyTiledAvx512.Run<Int8Decoder>(g, apack, t0, t1); break;
            case DecoderKind.Six6Int: WeightOnlyTiledAvx512.Run<Six6IntDecoder>(g, apack, t0, t1); break;
            case DecoderKind.E4M3: WeightOnlyTiledAvx512.Run<E4M3Decoder>(g, apack, t0, t1); break;
            case DecoderKind.E5M2: WeightOnlyTiledAvx512.Run<E5M2Decoder>(g, apack, t0, t1); break;
            case DecoderKind.E3M2: WeightOnlyTiledAvx512.Run<E3M2Decoder>(g, apack, t0, t1); break;
            case DecoderKind.Byte8Gather: WeightOnlyTiledAvx512.Run<Byte8GatherDecoder>(g, apack, t0, t1); break;
            case DecoderKind.Six6Gather: WeightOnlyTiledAvx512.Run<Six6GatherDecoder>(g, apack, t0, t1); break;
            default: WeightOnlyTiledAvx512.Run<ScalarFallbackDecoder>(g, apack, t0, t1); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunNibble4GemvAvx512(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        int n = g.W.Rows, kc = WeightOnlyNibble4Avx512.LaidOutK(g.W.PaddedK);
        float[] rented = ArrayPool<float>.Shared.Rent(g.M * kc);
        try
        {
            fixed (float* aL = rented)
            {
                for (int r = 0; r < g.M; r++) WeightOnlyNibble4Avx512.LayOutA(g.A + (long)r * g.W.K, g.W.K, kc, aL + (long)r * kc);
                job.P0 = (nint)aL;
                job.For(runner, n, RoundUp(Chunk(n, WeightOnlyNibble4Avx512.NR, runner, 2), WeightOnlyNibble4Avx512.NR), &WeightOnlyNibble4Avx512Item);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static void WeightOnlyNibble4Avx512Item(KernelJob j, int n0, int n1) =>
        WeightOnlyNibble4Avx512.Run(j.G, (float*)j.P0, j.Kernel._nibbleFloats, (float)Math.ScaleB(1.0, -j.Kernel._intShift), n0, n1);

    // The AVX-512 MX×MX paths: 4-bit weights (any M) and MXINT8 weights (M ≤ 3), over activations prepared once per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunMxMxAvx512(KernelJob job, IParallelRunner runner, Mx512Kernel choice)
    {
        ref readonly GemmArgs g = ref job.G;
        MxPackedWeight w = Weight;
        int m = g.M, n = w.Rows;
        long rowBytes = MxMxNibble4Avx512.RowBytes(w.PaddedK);
        int kc = MxMxNibble4Avx512.ChunkedK(w.PaddedK);
        int rows = choice == Mx512Kernel.VnniTiles ? RoundUp(m, VnniTileGemmEmitter.MBlock) : m;   // the tile GEMM reads whole blocks of 8
        long total = rows * rowBytes + 64 + kc + w.BlocksPerRow + 64;
        if (total > int.MaxValue) throw new ArgumentException($"M = {m} is too large for one MX×MX call at K = {w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)total);
        try
        {
            fixed (byte* raw = rented)
            {
                byte* prep = (byte*)(((nint)raw + 63) & ~(nint)63);
                sbyte* tmp = (sbyte*)(prep + m * rowBytes);
                job.P0 = (nint)prep;
                job.Stride = rowBytes;
                job.Choice = (int)choice;
                // Step order (even/odd per 128 elements) for the 4-bit kernels and the decoded ones; natural order for the
                // MXINT8 kernels that read the weight codes as they are.
                job.Flag = choice is not (Mx512Kernel.VnniGemv or Mx512Kernel.Int8AvxVnni) || _mxmx512;   // 6-bit GEMV: natural
                if (m == 1)
                    MxMxNibble4Avx512.Prepare(g.A, w.K, w.BlockSize, _intShift, PrepOffset(choice), prep, tmp, (byte*)(tmp + kc), job.Flag);
                else
                    job.For(runner, m, Chunk(m, 4, runner, 1), &PrepareRowsItem);
                if (choice == Mx512Kernel.VnniTiles)
                {
                    new Span<byte>(prep + m * rowBytes, (int)((rows - m) * rowBytes)).Clear();
                    MxMxTileGemm.FoldCorrections(prep, rowBytes, m, kc);
                    job.P1 = rows;
                    int tiles = (n + 15) / 16;
                    job.For(runner, tiles, MxMxTileGemm.TilesPerGroup(w.PaddedK), &TilesItem);
                    return;
                }
                // GEMV: one item per thread (fewest ORT callbacks) while the weight is small (cache-resident, a call of
                // tens of µs); past a few MiB (streamed from memory, milliseconds) four per thread, so a thread that
                // starts late or is preempted does not leave the others waiting at the end.
                bool small = (long)w.RowBytes * n < GemvItemsBytes;
                int per = Chunk(n, MxMxNibble4Avx512.NR, runner, m <= MxMxGemm.InlineMaxM && small ? 1 : 4);
                job.For(runner, n, RoundUp(per, MxMxNibble4Avx512.NR), &MxMxAvx512Item);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Weight bytes from which the GEMV splits into four items per thread.
    private const long GemvItemsBytes = 4L << 20;

    // Weight offset the activation correction is computed for: the 4-bit LUT offset, 128 for MXINT8 codes XOR 0x80,
    // or the decoded kernel's offset.
    private int PrepOffset(Mx512Kernel choice) => choice is Mx512Kernel.VnniDecoded or Mx512Kernel.VnniTiles || _kind == DecoderKind.Six6Int ? _decodedOffset : _kind == DecoderKind.Int8 ? 128 : _nibbleOffset;

    /// <summary>
    /// Rows of A up to which the generated GEMV (weights decoded in registers for every row of A) runs; beyond, the
    /// weights are decoded once per 4 rows. Measured on Zen 4 (K = N = 4096, one thread): the GEMV is ahead up to
    /// M ≈ 8–16 for 4-bit and MXINT8 codes, whose in-register decode is cheap, and up to M ≈ 4 for 6-bit codes.
    /// </summary>
    private int VnniMaxM => _kind switch { DecoderKind.Nibble4 => 12, DecoderKind.Int8 => 16, _ => 6 };

    // Which AVX-512 MX×MX kernel a call with m rows takes (None: the AVX2 paths). MXINT8 without VNNI at larger M: the
    // AVX2 kernel measured faster than the AVX-VNNI ymm one.
    private Mx512Kernel Choose512(int m)
    {
        if (_vnni != null && m <= VnniMaxM) return Mx512Kernel.VnniGemv;
        if (_vnniTiles != null && m >= TileMinM) return Mx512Kernel.VnniTiles;
        if (_vnniDecoded != null) return Mx512Kernel.VnniDecoded;
        if (_mxmx512) return m <= MxMxGemm.InlineMaxM ? Mx512Kernel.Nibble4Registers : Mx512Kernel.Nibble4Decoded;
        if (_int8Mx512 && m <= MxMxGemm.InlineMaxM) return Mx512Kernel.Int8AvxVnni;
        return Mx512Kernel.None;
    }

    private static (int Min, int Max) IntSpan(FormatTables t)
    {
        int lo = 0, hi = 0;
        for (int c = 0; c < 1 << t.Format.ElementBits; c++) { lo = Math.Min(lo, t.Ints[c]); hi = Math.Max(hi, t.Ints[c]); }
        return (lo, hi);
    }

    /// <summary>
    /// Rows of A from which the tile GEMM runs (it decodes a tile group once for all rows of A): measured on Zen 4
    /// (K = N = 4096, one thread) ahead of the GEMV and the 4-row decoded kernel from M ≈ 13–24 on, 2× at M ≥ 128.
    /// </summary>
    private const int TileMinM = 16;

    private static void TilesItem(KernelJob j, int t0, int t1) => j.Kernel._vnniTiles!.Run(j.G, (byte*)j.P0, j.Stride, (int)j.P1, t0, t1);

    private static void PrepareRowsItem(KernelJob j, int r0, int r1)
    {
        MxMatMulKernel k = j.Kernel;
        MxPackedWeight w = j.G.W;
        int kc = MxMxNibble4Avx512.ChunkedK(w.PaddedK);
        byte[] tmp = ArrayPool<byte>.Shared.Rent(kc + w.BlocksPerRow + 64);
        try
        {
            fixed (byte* t = tmp)
                for (int r = r0; r < r1; r++)
                    MxMxNibble4Avx512.Prepare(j.G.A + (long)r * w.K, w.K, w.BlockSize, k._intShift, k.PrepOffset((Mx512Kernel)j.Choice),
                        (byte*)j.P0 + r * j.Stride, (sbyte*)t, t + kc, j.Flag);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(tmp);
        }
    }

    private static void MxMxAvx512Item(KernelJob j, int n0, int n1)
    {
        MxMatMulKernel k = j.Kernel;
        ref readonly GemmArgs g = ref j.G;
        byte* prep = (byte*)j.P0;
        switch ((Mx512Kernel)j.Choice)
        {
            case Mx512Kernel.VnniGemv: k._vnni!.Run(g, prep, j.Stride, n0, n1); return;
            case Mx512Kernel.VnniDecoded: k._vnniDecoded!.Run(g, prep, j.Stride, n0, n1); return;
            case Mx512Kernel.Int8AvxVnni: MxMxInt8Avx512.Run(g, prep, j.Stride, n0, n1); return;
            case Mx512Kernel.Nibble4Registers: MxMxNibble4Avx512.Run(g, prep, j.Stride, k._nibbleLut, n0, n1); return;
        }
        long bytes = MxMxNibble4Avx512.DecodedScratchBytes(g.W.PaddedK, g.M);
        if (bytes > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one MX×MX call at K = {g.W.K}");
        byte[] scratch = ArrayPool<byte>.Shared.Rent((int)bytes);
        try
        {
            fixed (byte* s = scratch) MxMxNibble4Avx512.RunDecoded(g, prep, j.Stride, k._nibbleLut, n0, n1, s);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    // MX×MX for weights without an integer form: quantize A to MXINT8, write back the exact values it stands for,
    // and run the weight-only kernels on them (same products; only the fp32 accumulation order differs).
    private void RunMxMxViaDequantizedActivations(KernelJob job, IParallelRunner runner)
    {
        ref readonly GemmArgs g = ref job.G;
        MxPackedWeight w = Weight;
        long count = (long)g.M * w.K;
        if (count > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one MX×MX call at K = {w.K}");
        float[] rented = ArrayPool<float>.Shared.Rent((int)count);
        try
        {
            fixed (float* aq = rented)
            {
                job.P0 = (nint)aq;
                job.For(runner, g.M, Chunk(g.M, 4, runner), &QuantizeDequantizeRowsItem);
                job.G = new GemmArgs(w, aq, g.M, g.Bias, g.Y, g.ScaleTable, g.Luts);
                RunWeightOnly(job, runner);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static void QuantizeDequantizeRowsItem(KernelJob j, int r0, int r1)
    {
        MxPackedWeight w = j.G.W;
        for (int r = r0; r < r1; r++)
            ActivationQuantizer.QuantizeDequantizeRow(j.G.A + (long)r * w.K, w.K, w.BlockSize, (float*)j.P0 + (long)r * w.K);
    }

    private void Gemv(in GemmArgs g, int n0, int n1)
    {
        switch (_kind)
        {
            case DecoderKind.Nibble4: WeightOnlyGemv.Run<Nibble4Decoder>(g, n0, n1); break;
            case DecoderKind.Int8: WeightOnlyGemv.Run<Int8Decoder>(g, n0, n1); break;
            case DecoderKind.Six6Int: WeightOnlyGemv.Run<Six6IntDecoder>(g, n0, n1); break;
            case DecoderKind.E4M3: WeightOnlyGemv.Run<E4M3Decoder>(g, n0, n1); break;
            case DecoderKind.E5M2: WeightOnlyGemv.Run<E5M2Decoder>(g, n0, n1); break;
            case DecoderKind.E3M2: WeightOnlyGemv.Run<E3M2Decoder>(g, n0, n1); break;
            case DecoderKind.Byte8Gather: WeightOnlyGemv.Run<Byte8GatherDecoder>(g, n0, n1); break;
            case DecoderKind.Six6Gather: WeightOnlyGemv.Run<Six6GatherDecoder>(g, n0, n1); break;
            default: WeightOnlyGemv.Run<ScalarFallbackDecoder>(g, n0, n1); break;
        }
    }

    private void Tiled(in GemmArgs g, int t0, int t1)
    {
        switch (_kind)
        {
            case DecoderKind.Nibble4: WeightOnlyTiled.Run<Nibble4Decoder>(g, t0, t1); break;
            case DecoderKind.Int8: WeightOnlyTiled.Run<Int8Decoder>(g, t0, t1); break;
            case DecoderKind.Six6Int: WeightOnlyTiled.Run<Six6IntDecoder>(g, t0, t1); break;
            case DecoderKind.E4M3: WeightOnlyTiled.Run<E4M3Decoder>(g, t0, t1); break;
            case DecoderKind.E5M2: WeightOnlyTiled.Run<E5M2Decoder>(g, t0, t1); break;
            case DecoderKind.E3M2: WeightOnlyTiled.Run<E3M2Decoder>(g, t0, t1); break;
            case DecoderKind.Byte8Gather: WeightOnlyTiled.Run<Byte8GatherDecoder>(g, t0, t1); break;
            case DecoderKind.Six6Gather: WeightOnlyTiled.Run<Six6GatherDecoder>(g, t0, t1); break;
            default: WeightOnlyTiled.Run<ScalarFallbackDecoder>(g, t0, t1); break;
        }
    }

    private void MxMx(in GemmArgs g, sbyte* codes, float* actScale, int n0, int n1)
    {
        int scratchBytes = MxMxGemm.NR * Weight.PaddedK;
        // Decoded int8 weight rows: on the stack up to 64 KiB (K ≤ 16384), pooled beyond.
        if (_kind == DecoderKind.Int8 || scratchBytes <= 65536)
        {
            sbyte* s = stackalloc sbyte[_kind == DecoderKind.Int8 ? 1 : scratchBytes];
            MxMxDispatch(g, codes, actScale, n0, n1, s);
            return;
        }
        byte[] rented = ArrayPool<byte>.Shared.Rent(scratchBytes);
        try
        {
            fixed (byte* s = rented) MxMxDispatch(g, codes, actScale, n0, n1, (sbyte*)s);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void MxMxDispatch(in GemmArgs g, sbyte* codes, float* actScale, int n0, int n1, sbyte* scratch)
    {
        switch (_kind)
        {
            case DecoderKind.Nibble4: MxMxGemm.Run<Nibble4Decoder>(g, codes, actScale, n0, n1, scratch); break;
            case DecoderKind.Int8: MxMxGemm.Run<Int8Decoder>(g, codes, actScale, n0, n1, scratch); break;
            case DecoderKind.Six6Int: MxMxGemm.Run<Six6IntDecoder>(g, codes, actScale, n0, n1, scratch); break;
            default: throw new InvalidOperationException($"no integer MX×MX kernel for {_kind}");
        }
    }

    private static DecoderKind ChooseDecoder(MxPackedWeight w, FormatTables t)
    {
        if (w.BlockSize % 32 != 0 || w.Format.Kind == MxElementKind.SharedMicroExponent) return DecoderKind.Scalar;
        return (w.Format.ElementBits, t.IntShift >= 0) switch
        {
            (4, true) => DecoderKind.Nibble4,
            (8, true) => DecoderKind.Int8,
            (6, true) when IsSignMagnitude(t) => DecoderKind.Six6Int,
            (8, false) when w.Format.Name == "mxfp8_e4m3" => DecoderKind.E4M3,
            (8, false) when w.Format.Name == "mxfp8_e5m2" => DecoderKind.E5M2,
            (8, false) => DecoderKind.Byte8Gather,
            (6, false) when w.Format.Name == "mxfp6_e3m2" => DecoderKind.E3M2,
            (6, _) => DecoderKind.Six6Gather,
            _ => DecoderKind.Scalar,
        };
    }

    // The 6-bit int decoder looks up magnitudes and applies the top bit as a sign.
    private static bool IsSignMagnitude(FormatTables t)
    {
        for (int c = 0; c < 32; c++)
            if (t.Ints[c + 32] != -t.Ints[c]) return false;
        return true;
    }

    private static void ValidateM(int m)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "M must be ≥ 0");
    }

    // Work split: about 4 items per thread (load balance on a shared machine), never below a minimum grain.
    private static int Chunk(int total, int grain, IParallelRunner runner, int perThread = 4) =>
        Math.Max(grain, (total + runner.DegreeOfParallelism * perThread - 1) / (runner.DegreeOfParallelism * perThread));

    private static int Count(int total, int per) => (total + per - 1) / per;

    private static int RoundUp(int v, int multiple) => (v + multiple - 1) / multiple * multiple;
}
