using System.Runtime.CompilerServices;
using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Formats;

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
    private readonly bool _int8Mx512;      // MxMxInt8Avx512 applies
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
        bool avx2 = Avx2.IsSupported && Fma.IsSupported;
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
        _int8Mx512 = _avx512 && _kind == DecoderKind.Int8 && weight.BlockSize is 32 or 64 && MxMxInt8Avx512.IsSupported;
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
    public static bool IsSupported(MxKernelPath path) => path switch
    {
        MxKernelPath.Auto or MxKernelPath.Reference => true,
        MxKernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        MxKernelPath.Avx512 => Avx2.IsSupported && Fma.IsSupported && MxMxNibble4Avx512.IsSupported,
        _ => false,
    };

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
        : Mode == MxGemmMode.MxMx && _int8Mx512 ? "avx512 Int8 avx-vnni vpdpbusd int8-dot (M ≤ 3), avx2 int8-dot (M ≥ 4)"
        : Mode == MxGemmMode.MxMx && _mxmx512 ? $"avx512 {_kind} vpermb+maddubs int8-dot (M ≤ 3 decode in registers, else once per 4 rows)"
        : Mode == MxGemmMode.MxMx ? (_mxmxSimd ? $"avx2 {_kind} int8-dot" : $"avx2 {_kind} on MXINT8-dequantized activations")
        : _avx512 ? (_wo512 ? $"avx512 {_kind} dword-vpermps GEMV (M ≤ 3), avx512 12×32/8×32 tiled (M ≥ 4)" : $"avx2 {_kind} GEMV (M ≤ 3), avx512 12×32/8×32 tiled (M ≥ 4)")
        : $"avx2 {_kind}";

    /// <summary>Computes Y = A · Wᵀ (+ bias).</summary>
    /// <param name="a">[m, K] row-major.</param>
    /// <param name="m">Rows of A (0 allowed: nothing is written).</param>
    /// <param name="bias">[N], or empty for none.</param>
    /// <param name="y">[m, N] row-major, overwritten.</param>
    /// <param name="runner">Parallel-for to use (default: <see cref="ThreadPoolRunner.Default"/>).</param>
    /// <exception cref="ArgumentException">A buffer is too small or bias has the wrong length.</exception>
    public void Run(ReadOnlySpan<float> a, int m, ReadOnlySpan<float> bias, Span<float> y, IParallelRunner? runner = null)
    {
        ValidateM(m);
        long need = (long)m * Weight.K, needY = (long)m * Weight.Rows;
        if (a.Length < need) throw new ArgumentException($"A has {a.Length} floats; [{m}, {Weight.K}] needs {need}", nameof(a));
        if (y.Length < needY) throw new ArgumentException($"Y has {y.Length} floats; [{m}, {Weight.Rows}] needs {needY}", nameof(y));
        if (!bias.IsEmpty && bias.Length != Weight.Rows)
            throw new ArgumentException($"bias has {bias.Length} floats; it must be empty or hold N = {Weight.Rows}", nameof(bias));
        fixed (float* pa = a)
        fixed (float* pb = bias)
        fixed (float* py = y)
            Run(pa, m, bias.IsEmpty ? null : pb, py, runner);
    }

    /// <summary>Computes Y = A · Wᵀ (+ bias) over raw memory: A [m, K], bias [N] or null, Y [m, N] (e.g. ONNX Runtime tensors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(float* a, int m, float* bias, float* y, IParallelRunner? runner = null)
    {
        ValidateM(m);
        if (m == 0) return;
        if (a == null) throw new ArgumentNullException(nameof(a));
        if (y == null) throw new ArgumentNullException(nameof(y));
        runner ??= ThreadPoolRunner.Default;
        var g = new GemmArgs(Weight, a, m, bias, y, (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref _scaleTable[0]), _luts);
        // The closure-free AVX-512 paths are dispatched here: RunMxMx/RunWeightOnly allocate their lambdas' closure
        // object on entry.
        if (Mode == MxGemmMode.MxMx && (_mxmx512 || (_int8Mx512 && m <= MxMxGemm.InlineMaxM))) RunMxMxNibble4Avx512(g, runner);
        else if (Mode == MxGemmMode.WeightOnly && _wo512 && m <= WeightOnlyGemv.MaxM) RunNibble4GemvAvx512(g, runner);
        else if (Mode == MxGemmMode.MxMx) RunMxMx(g, runner);
        else RunWeightOnly(g, runner);
    }

    private void RunWeightOnly(GemmArgs g, IParallelRunner runner)
    {
        int n = Weight.Rows;
        if (!_simd)
        {
            int per = Chunk(n, 8, runner);
            runner.For(Count(n, per), i => MxGemmReference.WeightOnly(g.W, g.A, g.M, g.Bias, g.Y, i * per, Math.Min(n, (i + 1) * per)));
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM && _wo512)
        {
            RunNibble4GemvAvx512(g, runner);
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM && _kind == DecoderKind.Nibble4)
        {
            RunNibble4Gemv(g, runner);
            return;
        }
        if (g.M <= WeightOnlyGemv.MaxM)
        {
            int per = Chunk(n, 16, runner);
            runner.For(Count(n, per), i => Gemv(g, i * per, Math.Min(n, (i + 1) * per)));
            return;
        }
        if (_avx512)
        {
            RunTiledAvx512(g, runner);
            return;
        }
        int tiles = Count(n, WeightOnlyTiled.NR);
        int perTiles = Chunk(tiles, 1, runner);
        runner.For(Count(tiles, perTiles), i => Tiled(g, i * perTiles, Math.Min(tiles, (i + 1) * perTiles)));
    }

    private static void RunNibble4Gemv(GemmArgs g, IParallelRunner runner)
    {
        int n = g.W.Rows, k32 = (g.W.K + 31) & ~31;
        float[] rented = ArrayPool<float>.Shared.Rent(g.M * k32);
        try
        {
            fixed (float* aPerm = rented)
            {
                for (int r = 0; r < g.M; r++) Nibble4Gemv.PermuteA(g.A + (long)r * g.W.K, g.W.K, aPerm + (long)r * k32);
                nint pa = (nint)aPerm;
                int per = Chunk(n, 16, runner);
                runner.For(Count(n, per), i => Nibble4Gemv.Run(g, (float*)pa, i * per, Math.Min(n, (i + 1) * per)));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    private void RunMxMx(GemmArgs g, IParallelRunner runner)
    {
        if (_mxmx512 || (_int8Mx512 && g.M <= MxMxGemm.InlineMaxM))   // MXINT8 at larger M: the AVX2 kernel measured faster
        {
            RunMxMxNibble4Avx512(g, runner);
            return;
        }
        if (_simd && !_mxmxSimd)
        {
            RunMxMxViaDequantizedActivations(g, runner);
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
                sbyte* codes = (sbyte*)scratch;
                byte* scaleBytes = scratch + codeBytes;
                float* actScale = (float*)(((nint)(scaleBytes + scaleCount) + 3) & ~(nint)3);
                nint pc = (nint)codes, ps = (nint)scaleBytes, pf = (nint)actScale;
                bool splitOrder = _mxmxSimd && _kind == DecoderKind.Nibble4;   // Nibble4Decoder.SplitOrder
                int rowsPer = Chunk(m, 4, runner);
                runner.For(Count(m, rowsPer), i =>
                {
                    for (int r = i * rowsPer; r < Math.Min(m, (i + 1) * rowsPer); r++)
                    {
                        ActivationQuantizer.QuantizeRow(g.A + (long)r * w.K, w.K, w.BlockSize, (sbyte*)pc + (long)r * w.PaddedK, (byte*)ps + (long)r * nb);
                        if (splitOrder) ActivationQuantizer.SplitEvenOdd((sbyte*)pc + (long)r * w.PaddedK, w.PaddedK);
                        for (int j = 0; j < nb; j++)   // activation codes carry 2^-6 (MXINT8)
                            ((float*)pf)[(long)r * nb + j] = FormatTables.E8M0[((byte*)ps)[(long)r * nb + j]] * (1f / 64);
                    }
                });
                if (!_mxmxSimd)
                {
                    int per = Chunk(n, 8, runner);
                    runner.For(Count(n, per), i => MxGemmReference.MxMx(w, (sbyte*)pc, (byte*)ps, m, g.Bias, g.Y, i * per, Math.Min(n, (i + 1) * per)));
                    return;
                }
                int perRows = Chunk(n, MxMxGemm.NR, runner);
                perRows = (perRows + MxMxGemm.NR - 1) / MxMxGemm.NR * MxMxGemm.NR;
                runner.For(Count(n, perRows), i => MxMx(g, (sbyte*)pc, (float*)pf, i * perRows, Math.Min(n, (i + 1) * perRows)));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void RunTiledAvx512(GemmArgs g, IParallelRunner runner)
    {
        MxPackedWeight w = Weight;
        long len = WeightOnlyTiledAvx512.PackedALength(g.M, w.K);
        if (len + 16 > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one call at K = {w.K}");
        float[] rented = ArrayPool<float>.Shared.Rent((int)len + 16);
        try
        {
            fixed (float* raw = rented)
            {
                float* apack = (float*)(((nint)raw + 63) & ~(nint)63);
                nint pa = (nint)apack;
                int mBlocks = Count(g.M, WeightOnlyTiledAvx512.RowGroup(g.M));
                runner.For(mBlocks, mb => WeightOnlyTiledAvx512.PackA(g.A, g.M, w.K, mb, (float*)pa));
                int tiles = Count(w.Rows, WeightOnlyTiledAvx512.NR);
                int perTiles = Chunk(tiles, 1, runner, 2);
                runner.For(Count(tiles, perTiles), i => Tiled512(g, (float*)pa, i * perTiles, Math.Min(tiles, (i + 1) * perTiles)));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

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
    private void RunNibble4GemvAvx512(GemmArgs g, IParallelRunner runner)
    {
        int n = g.W.Rows, kc = WeightOnlyNibble4Avx512.LaidOutK(g.W.PaddedK);
        float[] rented = ArrayPool<float>.Shared.Rent(g.M * kc);
        try
        {
            fixed (float* aL = rented)
            {
                for (int r = 0; r < g.M; r++) WeightOnlyNibble4Avx512.LayOutA(g.A + (long)r * g.W.K, g.W.K, kc, aL + (long)r * kc);
                var state = t_weightOnly4 ??= new WeightOnly4State();   // per thread, reused: no allocation per call
                state.Set(g, aL, _nibbleFloats, (float)Math.ScaleB(1.0, -_intShift), n, Chunk(n, WeightOnlyNibble4Avx512.NR, runner, 2));
                try { runner.For(Count(n, state.Per), state.Body); }
                finally { state.Clear(); }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    [ThreadStatic] private static WeightOnly4State? t_weightOnly4;
    [ThreadStatic] private static Nibble4State? t_nibble4;

    // Work-item state of one call, cached per calling thread and reset per call (the runner's For completes before
    // the next call on that thread can start), so the GEMV paths allocate nothing per call.
    private sealed class WeightOnly4State
    {
        private GemmArgs _g;
        private nint _a;
        private Vector512<float> _table;
        private float _intScale;
        private int _n;
        public int Per;
        public readonly Action<int> Body;

        public WeightOnly4State() => Body = RunItem;

        public void Set(in GemmArgs g, float* aL, Vector512<float> table, float intScale, int n, int per)
        {
            _g = g; _a = (nint)aL; _table = table; _intScale = intScale; _n = n;
            Per = (per + WeightOnlyNibble4Avx512.NR - 1) / WeightOnlyNibble4Avx512.NR * WeightOnlyNibble4Avx512.NR;
        }

        public void Clear() => _g = default;   // drop the reference to the weight

        private void RunItem(int i) => WeightOnlyNibble4Avx512.Run(_g, (float*)_a, _table, _intScale, i * Per, Math.Min(_n, (i + 1) * Per));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void RunMxMxNibble4Avx512(GemmArgs g, IParallelRunner runner)
    {
        MxPackedWeight w = Weight;
        int m = g.M, n = w.Rows;
        long rowBytes = MxMxNibble4Avx512.RowBytes(w.PaddedK);
        int kc = MxMxNibble4Avx512.ChunkedK(w.PaddedK);
        long total = m * rowBytes + 64 + kc + w.BlocksPerRow + 64;
        if (total > int.MaxValue) throw new ArgumentException($"M = {m} is too large for one MX×MX call at K = {w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)total);
        try
        {
            fixed (byte* raw = rented)
            {
                byte* prep = (byte*)(((nint)raw + 63) & ~(nint)63);
                sbyte* tmp = (sbyte*)(prep + m * rowBytes);
                if (m == 1)
                    MxMxNibble4Avx512.Prepare(g.A, w.K, w.BlockSize, _intShift, PrepOffset, prep, tmp, (byte*)(tmp + kc), _mxmx512);
                else
                    PrepareRows(g, prep, rowBytes, runner);
                var state = t_nibble4 ??= new Nibble4State();   // per thread, reused: no allocation per call
                state.Set(g, prep, rowBytes, _nibbleLut, n, Chunk(n, MxMxNibble4Avx512.NR, runner, m <= MxMxGemm.InlineMaxM ? 1 : 4), _int8Mx512);   // GEMV: one item per thread (fewest ORT callbacks)
                try { runner.For(Count(n, state.Per), state.Body); }
                finally { state.Clear(); }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Weight offset the activation correction is computed for: the 4-bit LUT offset, or 128 for MXINT8 codes XOR 0x80.
    private int PrepOffset => _int8Mx512 ? 128 : _nibbleOffset;

    private void PrepareRows(GemmArgs g, byte* prep, long rowBytes, IParallelRunner runner)
    {
        MxPackedWeight w = Weight;
        int kc = MxMxNibble4Avx512.ChunkedK(w.PaddedK);
        nint pp = (nint)prep;
        int shift = _intShift, offset = PrepOffset, rowsPer = Chunk(g.M, 4, runner, 1);
        bool stepOrder = _mxmx512;
        runner.For(Count(g.M, rowsPer), i =>
        {
            byte[] tmp = ArrayPool<byte>.Shared.Rent(kc + w.BlocksPerRow + 64);
            try
            {
                fixed (byte* t = tmp)
                    for (int r = i * rowsPer; r < Math.Min(g.M, (i + 1) * rowsPer); r++)
                        MxMxNibble4Avx512.Prepare(g.A + (long)r * w.K, w.K, w.BlockSize, shift, offset, (byte*)pp + r * rowBytes, (sbyte*)t, t + kc, stepOrder);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(tmp);
            }
        });
    }

    private sealed class Nibble4State
    {
        private GemmArgs _g;
        private nint _prep;
        private long _stride;
        private Vector512<byte> _lut;
        private int _n;
        private bool _int8;
        public int Per;
        public readonly Action<int> Body;

        public Nibble4State() => Body = RunItem;

        public void Set(in GemmArgs g, byte* prep, long stride, Vector512<byte> lut, int n, int per, bool int8)
        {
            _g = g; _prep = (nint)prep; _stride = stride; _lut = lut; _n = n; _int8 = int8;
            Per = (per + MxMxNibble4Avx512.NR - 1) / MxMxNibble4Avx512.NR * MxMxNibble4Avx512.NR;
        }

        public void Clear() => _g = default;

        private void RunItem(int i)
        {
            int n0 = i * Per, n1 = Math.Min(_n, (i + 1) * Per);
            if (_int8)
            {
                MxMxInt8Avx512.Run(_g, (byte*)_prep, _stride, n0, n1);
                return;
            }
            if (_g.M <= MxMxGemm.InlineMaxM)
            {
                MxMxNibble4Avx512.Run(_g, (byte*)_prep, _stride, _lut, n0, n1);
                return;
            }
            long bytes = MxMxNibble4Avx512.DecodedScratchBytes(_g.W.PaddedK, _g.M);
            if (bytes > int.MaxValue) throw new ArgumentException($"M = {_g.M} is too large for one MX×MX call at K = {_g.W.K}");
            byte[] scratch = ArrayPool<byte>.Shared.Rent((int)bytes);
            try
            {
                fixed (byte* s = scratch) MxMxNibble4Avx512.RunDecoded(_g, (byte*)_prep, _stride, _lut, n0, n1, s);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    // MX×MX for weights without an integer form: quantize A to MXINT8, write back the exact values it stands for,
    // and run the weight-only kernels on them (same products; only the fp32 accumulation order differs).
    private void RunMxMxViaDequantizedActivations(GemmArgs g, IParallelRunner runner)
    {
        MxPackedWeight w = Weight;
        long count = (long)g.M * w.K;
        if (count > int.MaxValue) throw new ArgumentException($"M = {g.M} is too large for one MX×MX call at K = {w.K}");
        float[] rented = ArrayPool<float>.Shared.Rent((int)count);
        try
        {
            fixed (float* aq = rented)
            {
                nint pq = (nint)aq;
                int rowsPer = Chunk(g.M, 4, runner);
                runner.For(Count(g.M, rowsPer), i =>
                {
                    for (int r = i * rowsPer; r < Math.Min(g.M, (i + 1) * rowsPer); r++)
                        ActivationQuantizer.QuantizeDequantizeRow(g.A + (long)r * w.K, w.K, w.BlockSize, (float*)pq + (long)r * w.K);
                });
                RunWeightOnly(new GemmArgs(w, aq, g.M, g.Bias, g.Y, g.ScaleTable, g.Luts), runner);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
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
}
