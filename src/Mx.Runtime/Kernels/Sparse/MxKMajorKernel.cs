using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Mx.Runtime.Cpu;
using Mx.Runtime.Formats;
using Mx.Runtime.Kernels.Jit;

namespace Mx.Runtime.Kernels.Sparse;

/// <summary>
/// Y[M, N] = A[M, K] · Wᵀ (+ bias) for a K-major weight (<see cref="MxKMajorWeight"/>), skipping the K-blocks whose
/// activations are zero in every row of A (and, with a tile mask, the weight tiles that are not stored).
/// <para>
/// Skipping is exact: a block whose activations are all zero (MX×MX: whose MXINT8 codes are all zero) contributes
/// exactly 0, so the outputs equal those of the same kernel visiting every block — except where a skipped block's
/// weight scale is NaN (a dense product would be NaN there). With <c>sparseThreshold</c> t &gt; 0, a block of a row
/// whose largest |a| ≤ t is treated as zero (an approximation the caller chooses).
/// </para>
/// Fast paths (M ≤ <see cref="MaxGemvRows"/>): MX×MX through a generated AVX512_VNNI kernel
/// (<see cref="KMajorVnniEmitter"/>), weight-only through an AVX-512 kernel; other cases run the row-major kernels on a
/// row-major copy made once, on first use (the K-major layout is meant for AVX-512 machines). Immutable; thread-safe.
/// </summary>
public sealed unsafe class MxKMajorKernel
{
    /// <summary>Rows of A up to which the sparse GEMV paths run.</summary>
    public const int MaxGemvRows = 16;

    private readonly MxKMajorWeight _w;
    private readonly float _threshold;
    private readonly nint _fn;                 // generated MX×MX code, or 0
    private readonly byte[]? _consts;          // pinned: value table / flip bytes, fixup table, 2^−127
    private readonly int _offset;              // MX×MX: what the table adds to the weight values
    private readonly float _unit;              // MX×MX: 2^(−6−IntShift)
    private readonly bool _weightOnly512;
    private readonly Vector512<float> _nibbleFloats;   // weight-only 4-bit: code → value · 2^IntShift
    private readonly float _valueScale;                // weight-only: 2^−IntShift
    private readonly float _sumScale;                  // weight-only MXINT8: 2^−24 (codes are decoded as code · 2^24)
    private readonly Lazy<MxMatMulKernel> _fallback;
    private static readonly Dictionary<KMajorShape, nint> Code = [];

    /// <summary>A kernel over <paramref name="weight"/> (not owned: keep it alive while the kernel runs).</summary>
    /// <param name="weight">The K-major weight.</param>
    /// <param name="mode">Weight-only or MX×MX.</param>
    /// <param name="sparseThreshold">Blocks of a row whose largest |a| is at most this are treated as zero (0: exact).</param>
    /// <param name="skipZeroBlocks">False visits every block (the dense baseline the skipping is measured and tested against).</param>
    public MxKMajorKernel(MxKMajorWeight weight, MxGemmMode mode = MxGemmMode.WeightOnly, float sparseThreshold = 0, bool skipZeroBlocks = true)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (!(sparseThreshold >= 0) || float.IsInfinity(sparseThreshold))
            throw new ArgumentOutOfRangeException(nameof(sparseThreshold), sparseThreshold, "the sparse threshold must be a finite number ≥ 0");
        _w = weight;
        Mode = mode;
        _threshold = sparseThreshold;
        SkipZeroBlocks = skipZeroBlocks;
        var tables = FormatTables.For(weight.Format);
        var kind = weight.Format.ElementBits == 4 ? VnniWeightKind.Nibble4 : VnniWeightKind.Int8;
        _fallback = new(() => new MxMatMulKernel(_w.ToRowMajor(), Mode), LazyThreadSafetyMode.ExecutionAndPublication);
        if (mode == MxGemmMode.MxMx && VnniGemv.IsSupported)
        {
            var shape = new KMajorShape(kind, weight.Layout.Blocks, weight.Layout.Tiles, weight.Rows, weight.HasMask);
            lock (Code)
                if (!Code.TryGetValue(shape, out _fn)) Code[shape] = _fn = ExecutableMemory.Commit(KMajorVnniEmitter.Emit(shape));
            _consts = GC.AllocateArray<byte>(KMajorVnniEmitter.ConstBytes + 64, pinned: true);
            byte* c = Consts;
            int lo = 0;
            for (int code = 0; code < 16 && kind == VnniWeightKind.Nibble4; code++) lo = Math.Min(lo, tables.Ints[code]);
            _offset = kind == VnniWeightKind.Nibble4 ? -lo : 128;
            for (int i = 0; i < 64; i++) c[KMajorVnniEmitter.ConstTable + i] = kind == VnniWeightKind.Nibble4 ? (byte)(tables.Ints[i % 16] - lo) : (byte)0x80;
            for (int l = 0; l < 16; l++)
            {
                ((int*)(c + KMajorVnniEmitter.ConstFixup))[l] = 0x11311011;   // +0 → keep 2^−127, +Inf → NaN, else the input
                ((int*)(c + KMajorVnniEmitter.ConstTiny))[l] = 0x00400000;    // 2^−127
            }
            _unit = (float)Math.ScaleB(1.0, -6 - tables.IntShift);
        }
        if (mode == MxGemmMode.WeightOnly && CpuFeatures.Has(IsaFeatures.Avx512 | IsaFeatures.Avx2 | IsaFeatures.Fma))
        {
            _weightOnly512 = true;
            var f = new float[16];
            for (int code = 0; code < 16 && kind == VnniWeightKind.Nibble4; code++) f[code] = tables.Ints[code];
            _nibbleFloats = Vector512.Create(f);
            _valueScale = (float)Math.ScaleB(1.0, -tables.IntShift);
            _sumScale = kind == VnniWeightKind.Int8 ? 1f / (1 << 24) : 1f;
        }
    }

    /// <summary>Weight-only or MX×MX.</summary>
    public MxGemmMode Mode { get; }

    /// <summary>Whether zero activation blocks are skipped (false: every block is visited).</summary>
    public bool SkipZeroBlocks { get; }

    /// <summary>The weight.</summary>
    public MxKMajorWeight Weight => _w;

    /// <summary>Which implementation a call with <paramref name="m"/> rows runs.</summary>
    public string ImplementationFor(int m) =>
        m <= MaxGemvRows && _fn != 0 ? "avx512 K-major generated avx512-vnni zmm vpdpbusd{1to16} GEMV, zero blocks skipped"
        : m <= MaxGemvRows && _weightOnly512 ? $"avx512 K-major {(_w.Format.ElementBits == 4 ? "dword-vpermps" : "vpshufb+cvt")} GEMV, zero blocks skipped"
        : $"row-major copy: {_fallback.Value.Implementation}";

    /// <summary>The instruction-set features a call with <paramref name="m"/> rows executes.</summary>
    public IsaFeatures IsaFor(int m) =>
        m <= MaxGemvRows && _fn != 0 ? IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.Avx512 | IsaFeatures.Avx512Vbmi | IsaFeatures.Avx512Vnni
        : m <= MaxGemvRows && _weightOnly512 ? IsaFeatures.Avx2 | IsaFeatures.Fma | IsaFeatures.Avx512
        : _fallback.Value.IsaFor(m);

    private byte* Consts => (byte*)(((nint)Unsafe.AsPointer(ref _consts![0]) + 63) & ~(nint)63);

    /// <summary>Computes Y = A · Wᵀ (+ bias) over spans (A [m, K], bias [N] or empty, Y [m, N]).</summary>
    public void Run(ReadOnlySpan<float> a, int m, ReadOnlySpan<float> bias, Span<float> y, IParallelRunner? runner = null)
    {
        GemmSpans.Validate(m, _w.K, _w.Rows, a.Length, bias.Length, y.Length);
        fixed (float* pa = a)
        fixed (float* pb = bias)
        fixed (float* py = y)
            Run(pa, m, bias.IsEmpty ? null : pb, py, runner);
    }

    /// <summary>Computes Y = A · Wᵀ (+ bias) over raw memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(float* a, int m, float* bias, float* y, IParallelRunner? runner = null)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "M must be ≥ 0");
        if (m == 0) return;
        runner ??= ThreadPoolRunner.Default;
        if (m <= MaxGemvRows && _fn != 0) RunMxMx(a, m, bias, y, runner);
        else if (m <= MaxGemvRows && _weightOnly512) RunWeightOnly(a, m, bias, y, runner);
        else RunFallback(a, m, bias, y, runner);
    }

    // The row-major kernel on the row-major copy; with a threshold, on A with the blocks at or below it zeroed.
    private void RunFallback(float* a, int m, float* bias, float* y, IParallelRunner runner)
    {
        if (_threshold == 0)
        {
            _fallback.Value.Run(a, m, bias, y, runner);
            return;
        }
        int nb = _w.Layout.Blocks, k = _w.K;
        float[] copy = ArrayPool<float>.Shared.Rent(m * nb * 32 + m * k);
        bool* active = stackalloc bool[nb];
        try
        {
            fixed (float* c = copy)
            {
                float* padded = c + m * k;
                for (int r = 0; r < m; r++)
                {
                    KMajorActivations.PrepareWeightOnly(a + (long)r * k, k, nb, _threshold, padded, active);
                    Buffer.MemoryCopy(padded, c + (long)r * k, (long)k * 4, (long)k * 4);
                }
                _fallback.Value.Run(c, m, bias, y, runner);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(copy);
        }
    }

    private void RunMxMx(float* a, int m, float* bias, float* y, IParallelRunner runner)
    {
        var l = _w.Layout;
        int nb = l.Blocks;
        long codes = (long)m * nb * 32 + 64, ints = (long)m * nb, yscr = (long)m * l.PaddedN;
        long bytes = codes + ints * 4 * 2 + nb + nb * 4 + yscr * 4 + 4 * 64;
        if (bytes > int.MaxValue) throw new ArgumentException($"M = {m} is too large for one call at K = {_w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)bytes);
        try
        {
            fixed (byte* raw = rented)
            {
                byte* p = (byte*)(((nint)raw + 63) & ~(nint)63);
                sbyte* act = (sbyte*)p;
                int* corr = (int*)Align(p + codes);
                float* ascale = (float*)(corr + ints);
                bool* active = (bool*)(ascale + ints);
                int* list = (int*)Align((byte*)(active + nb));
                float* ys = (float*)Align((byte*)(list + nb));
                byte* scaleBytes = stackalloc byte[nb];
                new Span<bool>(active, nb).Clear();
                bool nibble = _w.Format.ElementBits == 4;
                for (int r = 0; r < m; r++)
                    KMajorActivations.PrepareMxMx(a + (long)r * _w.K, _w.K, nb, _threshold, _offset, _unit, nibble,
                        act + (long)r * nb * 32, corr + (long)r * nb, ascale + (long)r * nb, scaleBytes, active);
                int count = ActiveList(active, nb, list);
                if (count == 0)
                {
                    WriteBias(y, m, bias);
                    return;
                }
                var args = new KMajorArgs
                {
                    W = _w.Elements, S = _w.Scales, Active = list, ActiveCount = count, Act = (byte*)act, Corr = corr,
                    AScale = ascale, M = m, Yscr = ys, Y = y, YStride = (long)_w.Rows * 4, Bias = bias, Consts = Consts,
                };
                int[]? index = _w.TileIndex;
                fixed (int* pIndex = index)
                {
                    args.TileIndex = pIndex;
                    var state = t_state ??= new ItemState();
                    state.Set(this, &args, l.Tiles, TilesPer(l.Tiles, runner));
                    try { runner.For((l.Tiles + state.Per - 1) / state.Per, state.Body); }
                    finally { state.Clear(); }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // One work item: tiles [t0, t1), every group of active blocks in turn.
    private void RunTiles(KMajorArgs* shared, int t0, int t1)
    {
        KMajorArgs args = *shared;
        args.T0 = t0;
        args.T1 = t1;
        for (long g = 0; g < args.ActiveCount; g += KMajorVnniEmitter.Group)
        {
            args.GroupStart = g;
            args.GroupEnd = Math.Min(args.ActiveCount, g + KMajorVnniEmitter.Group);
            ((delegate* unmanaged<KMajorArgs*, void>)_fn)(&args);
        }
    }

    private void RunWeightOnly(float* a, int m, float* bias, float* y, IParallelRunner runner)
    {
        var l = _w.Layout;
        int nb = l.Blocks;
        long floats = (long)m * nb * 32, yscr = (long)m * l.PaddedN;
        long bytes = (floats + yscr) * 4 + nb + nb * 4 + 4 * 64;
        if (bytes > int.MaxValue) throw new ArgumentException($"M = {m} is too large for one call at K = {_w.K}");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)bytes);
        try
        {
            fixed (byte* raw = rented)
            {
                float* ap = (float*)(((nint)raw + 63) & ~(nint)63);
                bool* active = (bool*)(ap + floats);
                int* list = (int*)Align((byte*)(active + nb));
                new Span<bool>(active, nb).Clear();
                for (int r = 0; r < m; r++) KMajorActivations.PrepareWeightOnly(a + (long)r * _w.K, _w.K, nb, _threshold, ap + (long)r * nb * 32, active);
                int count = ActiveList(active, nb, list);
                if (count == 0)
                {
                    WriteBias(y, m, bias);
                    return;
                }
                float* ys = (float*)Align((byte*)(list + nb));
                var args = new KMajorArgs { Act = (byte*)ap, Active = list, ActiveCount = count, M = m, Y = y, Bias = bias, Yscr = ys };
                int[]? index = _w.TileIndex;
                fixed (int* pIndex = index)
                {
                    args.TileIndex = pIndex;
                    var state = t_state ??= new ItemState();
                    state.Set(this, &args, l.Tiles, TilesPer(l.Tiles, runner), weightOnly: true);
                    try { runner.For((l.Tiles + state.Per - 1) / state.Per, state.Body); }
                    finally { state.Clear(); }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Weight-only tiles [t0, t1): per tile, 16 row accumulators in one zmm; per active block, the weights of 16 rows are
    // decoded 8 (4-bit: dword >> 4i through a 16-entry vpermps table) or 4 (MXINT8: shifts) elements per 64-byte load
    // and multiplied by the broadcast activation; the block's sum times the rows' scales is added.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightOnlyTiles(KMajorArgs* args, int t0, int t1)
    {
        var l = _w.Layout;
        int n = l.N, count = (int)args->ActiveCount;
        bool nibble = _w.Format.ElementBits == 4;
        int* list = args->Active, index = args->TileIndex;
        float* act = (float*)args->Act;
        Vector512<float> table = _nibbleFloats;
        Vector512<byte> top0 = Top[0], top1 = Top[1], top2 = Top[2], top3 = Top[3];
        float valueScale = _valueScale, sumScale = _sumScale;
        // Active blocks 8 at a time, every tile walking those 8 streams (as the generated MX×MX kernel does): one tile
        // at a time over all blocks would be as many concurrent streams as blocks, more than the prefetchers follow.
        for (int g0 = 0; g0 < count; g0 += KMajorVnniEmitter.Group)
        {
            int g1 = Math.Min(count, g0 + KMajorVnniEmitter.Group);
            for (int t = t0; t < t1; t++)
            for (int r = 0; r < args->M; r++)
            {
                float* ar = act + (long)r * l.Blocks * 32;
                float* partial = args->Yscr + (long)r * l.PaddedN + t * 16;
                Vector512<float> yacc = g0 == 0 ? Vector512<float>.Zero : Vector512.Load(partial);
                for (int i = g0; i < g1; i++)
                {
                    int j = list[i];
                    byte* wt;
                    if (index != null)
                    {
                        int stored = index[j * l.Tiles + t];
                        if (stored < 0) continue;
                        wt = _w.Elements + (long)stored * l.TileBytes;
                    }
                    else wt = _w.Elements + j * l.BlockStride + (long)t * l.TileBytes;
                    float* ab = ar + j * 32;
                    Vector512<float> s0 = Vector512<float>.Zero, s1 = Vector512<float>.Zero;
                    if (nibble)
                        for (int c = 0; c < 4; c++)
                        {
                            Vector512<uint> x = Vector512.Load((uint*)(wt + 64 * c));
                            float* e = ab + 8 * c;
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, x.AsInt32()), Vector512.Create(e[0]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 4).AsInt32()), Vector512.Create(e[1]), s1);
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 8).AsInt32()), Vector512.Create(e[2]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 12).AsInt32()), Vector512.Create(e[3]), s1);
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 16).AsInt32()), Vector512.Create(e[4]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 20).AsInt32()), Vector512.Create(e[5]), s1);
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 24).AsInt32()), Vector512.Create(e[6]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.PermuteVar16x32(table, (x >> 28).AsInt32()), Vector512.Create(e[7]), s1);
                        }
                    else
                        for (int c = 0; c < 8; c++)
                        {
                            // vpshufb moves byte b of each row's dword to the top byte (the rest zero): code · 2^24 as
                            // a signed int32, exact in fp32 after conversion; the block sum is scaled by 2^−24 (exact).
                            Vector512<byte> x = Vector512.Load(wt + 64 * c);
                            float* e = ab + 4 * c;
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.Shuffle(x, top0).AsInt32()), Vector512.Create(e[0]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.Shuffle(x, top1).AsInt32()), Vector512.Create(e[1]), s1);
                            s0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.Shuffle(x, top2).AsInt32()), Vector512.Create(e[2]), s0);
                            s1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512BW.Shuffle(x, top3).AsInt32()), Vector512.Create(e[3]), s1);
                        }
                    Vector512<float> scales = RowGroup.E8M0ToFloat(Vector128.Load(_w.Scales + (long)j * l.PaddedN + t * 16)) * valueScale;
                    yacc = Avx512F.FusedMultiplyAdd((s0 + s1) * sumScale, scales, yacc);
                }
                if (g1 < count) yacc.Store(partial);
                else StoreTile(args->Y + (long)r * n, args->Bias, t, n, yacc);
            }
        }
    }

    // Per byte b of a dword: a vpshufb mask that puts it in the top byte of its dword and zeroes the rest.
    private static readonly Vector512<byte>[] Top = Enumerable.Range(0, 4).Select(b =>
    {
        var m = new byte[64];
        for (int i = 0; i < 64; i++) m[i] = i % 4 == 3 ? (byte)(i / 4 % 4 * 4 + b) : (byte)0x80;
        return Vector512.Create(m);
    }).ToArray();

    private static void StoreTile(float* yRow, float* bias, int t, int n, Vector512<float> v)
    {
        int c0 = t * 16, cols = Math.Min(16, n - c0);
        if (cols == 16)
        {
            if (bias != null) v += Vector512.Load(bias + c0);
            v.Store(yRow + c0);
            return;
        }
        for (int c = 0; c < cols; c++) yRow[c0 + c] = v.GetElement(c) + (bias != null ? bias[c0 + c] : 0f);
    }

    private void WriteBias(float* y, int m, float* bias)
    {
        for (int r = 0; r < m; r++)
        {
            var row = new Span<float>(y + (long)r * _w.Rows, _w.Rows);
            if (bias == null) row.Clear();
            else new ReadOnlySpan<float>(bias, _w.Rows).CopyTo(row);
        }
    }

    // The K-blocks to visit, in order: the active ones (every one when skipping is off).
    private int ActiveList(bool* active, int nb, int* list)
    {
        int count = 0;
        for (int j = 0; j < nb; j++) if (active[j] || !SkipZeroBlocks) list[count++] = j;
        return count;
    }

    /// <summary>Fraction of K-blocks a call with these rows of A visits (for reports and benchmarks).</summary>
    public double ActiveFraction(ReadOnlySpan<float> a, int m)
    {
        int nb = _w.Layout.Blocks, live = 0;
        for (int j = 0; j < nb; j++)
        {
            bool any = !SkipZeroBlocks;
            for (int r = 0; r < m && !any; r++)
                for (int i = j * 32; i < Math.Min(_w.K, j * 32 + 32) && !any; i++)
                {
                    float v = a[r * _w.K + i];
                    any = float.IsNaN(v) || Math.Abs(v) > _threshold;
                }
            if (any) live++;
        }
        return (double)live / nb;
    }

    private static byte* Align(byte* p) => (byte*)(((nint)p + 63) & ~(nint)63);

    // About 4 items per thread, at least one tile each.
    private static int TilesPer(int tiles, IParallelRunner runner) => Math.Max(1, (tiles + runner.DegreeOfParallelism * 4 - 1) / (runner.DegreeOfParallelism * 4));

    [ThreadStatic] private static ItemState? t_state;

    // Work-item state of one call, cached per calling thread (no allocation per call).
    private sealed class ItemState
    {
        private MxKMajorKernel? _kernel;
        private KMajorArgs* _args;
        private int _tiles;
        private bool _weightOnly;
        public int Per;
        public readonly Action<int> Body;

        public ItemState() => Body = RunItem;

        public void Set(MxKMajorKernel kernel, KMajorArgs* args, int tiles, int per, bool weightOnly = false)
        {
            _kernel = kernel; _args = args; _tiles = tiles; Per = per; _weightOnly = weightOnly;
        }

        public void Clear() { _kernel = null; _args = null; }

        private void RunItem(int i)
        {
            int t0 = i * Per, t1 = Math.Min(_tiles, t0 + Per);
            if (_weightOnly) _kernel!.WeightOnlyTiles(_args, t0, t1);
            else _kernel!.RunTiles(_args, t0, t1);
        }
    }
}

/// <summary>The argument block of the generated K-major kernel (offsets in <see cref="KMajorVnniEmitter"/>).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
internal unsafe struct KMajorArgs
{
    public byte* W;             // elements (dense K-major, or the stored tiles)
    public byte* S;             // scales [nb][Npad]
    public int* Active;         // active K-block indices
    public long ActiveCount;
    public byte* Act;           // prepared activations [M][nb·32] (MX×MX codes; weight-only floats)
    public int* Corr;           // [M][nb] Offset·Σa
    public float* AScale;       // [M][nb]
    public long M;
    public long T0, T1;         // tiles of this call
    public float* Yscr;         // [M][Npad] partial sums between groups
    public float* Y;
    public long YStride;        // bytes between rows of Y
    public float* Bias;         // [N] or null
    public byte* Consts;
    public int* TileIndex;      // [nb][T] stored index or −1; null when dense
    public long GroupEnd;       // active list [GroupStart, GroupEnd) of this call
    public long GroupStart;
}
