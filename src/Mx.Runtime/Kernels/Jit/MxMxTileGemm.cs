using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>The argument block of the generated tile GEMM (offsets in <see cref="VnniTileGemmEmitter"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct VnniTileGemmArgs
{
    public byte* Tiles;         // [TileCount][kc/32][8][64] decoded weight bytes
    public float* TileScales;   // [TileCount][kc/32][16] weight scales
    public long TileCount;
    public byte* Prep;          // prepared activation rows (step order), M8 of them
    public long PrepStride;
    public long M8;             // rows of A rounded up to a multiple of 8 (the extra rows are zero)
    public long M;
    public float* Y;            // Y[0, n0] (the group's first column)
    public long YStride;        // bytes between rows of Y
    public float* Bias;         // bias + n0, or null
    public long TailTile;       // index of the group's partial last tile, or −1
    public long TailMask;       // lanes of that tile that exist
}

/// <summary>
/// MX×MX for many rows of A (prefill): per work item, a group of 16-row weight tiles is decoded once (each weight row
/// by <see cref="StepOrderRowDecoder"/>, then transposed 4 bytes at a time into the tile layout the generated kernel
/// reads, <see cref="VnniTileGemmEmitter"/>), and every row of A runs over the group in register blocks of 8. A group
/// holds about 512 KiB of decoded weights, so it stays in L2 while all of A passes over it.
/// </summary>
internal sealed unsafe class MxMxTileGemm
{
    private const int GroupBytes = 512 << 10;
    private static readonly Dictionary<int, nint> Code = [];
    private readonly nint _fn;
    private readonly StepOrderRowDecoder _decoder;

    public MxMxTileGemm(MxPackedWeight w, StepOrderRowDecoder decoder)
    {
        int kc = RowGroup.ChunkedK(w.PaddedK);
        lock (Code)
            if (!Code.TryGetValue(kc, out _fn)) Code[kc] = _fn = ExecutableMemory.Commit(VnniTileGemmEmitter.Emit(kc));
        _decoder = decoder;
    }

    /// <summary>Weight tiles per work item for <paramref name="paddedK"/>.</summary>
    public static int TilesPerGroup(int paddedK)
    {
        int kc = RowGroup.ChunkedK(paddedK);
        return Math.Max(1, GroupBytes / (kc / 32 * 576));
    }

    /// <summary>
    /// Folds the offset term into the prepared rows: corr ← corr · scale (the kernel computes dot · scale + corr · scale).
    /// <paramref name="rows"/> rows of <paramref name="rowBytes"/> at <paramref name="prep"/>.
    /// </summary>
    public static void FoldCorrections(byte* prep, long rowBytes, int rows, int kc)
    {
        for (int r = 0; r < rows; r++)
        {
            float* corr = (float*)(prep + r * rowBytes + kc), sub = corr + kc / 32;
            for (int u = 0; u < kc / 32; u += 16)
                (Vector512.Load(corr + u) * Vector512.Load(sub + u)).Store(corr + u);
        }
    }

    /// <summary>Y columns of tiles [t0, t1) for every prepared row of A (<paramref name="m8"/> rows, the last m8 − M zero).</summary>
    [SkipLocalsInit]
    public void Run(in GemmArgs g, byte* prep, long prepStride, int m8, int t0, int t1)
    {
        MxPackedWeight w = g.W;
        int kc = RowGroup.ChunkedK(w.PaddedK), blocks = kc / 32, tiles = t1 - t0;
        long rowBuf = 16L * kc + 16L * blocks * 4, tileData = (long)tiles * blocks * 512, tileScale = (long)tiles * blocks * 64;
        long bytes = rowBuf + tileData + tileScale + 3 * 64;
        if (bytes > int.MaxValue) throw new ArgumentException($"K = {w.K} is too large for one tile group");
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)bytes);
        try
        {
            fixed (byte* raw = rented)
            {
                byte* rows = Align(raw);
                float* rowScales = (float*)(rows + 16L * kc);
                byte* tileBase = Align((byte*)(rowScales + 16 * blocks));
                float* scaleBase = (float*)Align(tileBase + tileData);
                for (int t = 0; t < tiles; t++)
                    DecodeTile(g, (t0 + t) * 16, kc, rows, rowScales, tileBase + (long)t * blocks * 512, scaleBase + (long)t * blocks * 16);
                int n0 = t0 * 16, last = w.Rows - 1;
                bool partial = t1 * 16 > w.Rows;
                var args = new VnniTileGemmArgs
                {
                    Tiles = tileBase, TileScales = scaleBase, TileCount = tiles, Prep = prep, PrepStride = prepStride,
                    M8 = m8, M = g.M, Y = g.Y + n0, YStride = (long)w.Rows * 4, Bias = g.Bias == null ? null : g.Bias + n0,
                    TailTile = partial ? tiles - 1 : -1, TailMask = partial ? (1L << (w.Rows - (t1 - 1) * 16)) - 1 : -1,
                };
                _ = last;
                ((delegate* unmanaged<VnniTileGemmArgs*, void>)_fn)(&args);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // 16 weight rows from n0 (rows past N are zero) → [blocks][8 chunks][16 rows × 4 bytes] and [blocks][16] scales.
    private void DecodeTile(in GemmArgs g, int n0, int kc, byte* rows, float* rowScales, byte* tile, float* scales)
    {
        int blocks = kc / 32;
        for (int r = 0; r < 16; r++)
        {
            if (n0 + r < g.W.Rows) _decoder.DecodeRow(g, n0 + r, kc, rows + (long)r * kc, rowScales + r * blocks);
            else
            {
                new Span<byte>(rows + (long)r * kc, kc).Clear();
                new Span<float>(rowScales + r * blocks, blocks).Clear();
            }
        }
        for (int j = 0; j < blocks; j++)
        {
            int piece = j / 4 * 128 + 16 * (j % 4);   // the block's 16 even codes; its odd ones are 64 bytes on
            Transpose16x4(rows + piece, kc, tile + (long)j * 512);
            Transpose16x4(rows + piece + 64, kc, tile + (long)j * 512 + 256);
            for (int r = 0; r < 16; r++) scales[j * 16 + r] = rowScales[r * blocks + j];
        }
    }

    // 16 rows × 16 bytes (row stride <paramref name="stride"/>) → 4 chunks of 64 bytes: chunk c = dword c of each row.
    // Rows 4q…4q+3 go into one zmm (a row per 128-bit lane), vpermd turns each into lanes of one dword index, and a
    // 4 × 4 transpose of 128-bit lanes (vshufi32x4) gathers them.
    private static void Transpose16x4(byte* src, int stride, byte* dst)
    {
        Vector512<int> t0 = Rows4(src, stride), t1 = Rows4(src + 4L * stride, stride), t2 = Rows4(src + 8L * stride, stride), t3 = Rows4(src + 12L * stride, stride);
        Vector512<int> x0 = Avx512F.Shuffle4x128(t0, t1, 0x44), x1 = Avx512F.Shuffle4x128(t0, t1, 0xEE);
        Vector512<int> x2 = Avx512F.Shuffle4x128(t2, t3, 0x44), x3 = Avx512F.Shuffle4x128(t2, t3, 0xEE);
        Avx512F.Shuffle4x128(x0, x2, 0x88).Store((int*)dst);
        Avx512F.Shuffle4x128(x0, x2, 0xDD).Store((int*)(dst + 64));
        Avx512F.Shuffle4x128(x1, x3, 0x88).Store((int*)(dst + 128));
        Avx512F.Shuffle4x128(x1, x3, 0xDD).Store((int*)(dst + 192));
    }

    private static readonly Vector512<int> LaneTranspose = Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);

    // Four rows' 16 bytes as the lanes of one zmm, then lane c = dword c of the four rows.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Rows4(byte* src, int stride)
    {
        var v = Vector512.Create(
            Vector256.Create(Vector128.Load(src), Vector128.Load(src + stride)),
            Vector256.Create(Vector128.Load(src + 2L * stride), Vector128.Load(src + 3L * stride))).AsInt32();
        return Avx512F.PermuteVar16x32(v, LaneTranspose);
    }

    private static byte* Align(byte* p) => (byte*)(((nint)p + 63) & ~(nint)63);
}
