using static Mx.Runtime.Kernels.Jit.Regs;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>
/// Emits the AVX512_VNNI MX×MX GEMM for many rows of A (prefill): weights decoded once per call into 16-row tiles
/// (<see cref="MxMxTileGemm"/>: per K-block 8 chunks of 64 bytes, chunk c holding 4 unsigned value bytes of each of the
/// 16 rows, plus 16 fp32 row scales), activations prepared in step order (<see cref="MxMxNibble4Avx512.Prepare"/>, with
/// the offset term folded as <c>corr · scale</c>). Register block: 8 rows of A × 16 weight rows. Per K-block the 8
/// weight chunks are loaded once and reused by the 8 rows of A; per row of A: 8 vpdpbusd with 4 activation codes
/// broadcast to the 16 lanes (each lane one weight row: exact int32 block dot products, no horizontal sums), one
/// conversion, one FMA applying the activation scale and the offset term, one FMA by the rows' weight scales.
/// </summary>
internal static class VnniTileGemmEmitter
{
    internal const int ArgTiles = 0, ArgTileScales = 8, ArgTileCount = 16, ArgPrep = 24, ArgPrepStride = 32, ArgM8 = 40,
        ArgM = 48, ArgY = 56, ArgYStride = 64, ArgBias = 72, ArgTailTile = 80, ArgTailMask = 88;

    /// <summary>Rows of A per register block.</summary>
    public const int MBlock = 8;

    private static readonly Gpr[] A = [Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15];
    private const Gpr Args = Gpr.Rdi, Codes = Gpr.Rax, Floats = Gpr.Rdx, Tile = Gpr.Rbx, TileScale = Gpr.Rcx, T = Gpr.Rsi, Mb = Gpr.Rbp;
    private static Vec F(int i) => Z(i);          // accumulators, one per row of A
    private static Vec Acc(int i) => Z(8 + i);    // int32 block dot products
    private static Vec W(int c) => Z(16 + c);     // the 8 weight chunks of a K-block
    private static readonly Vec Wsc = Z(24), Csa = Z(25), BiasV = Z(26);
    private static readonly KReg Tail = K(1);

    /// <summary>The code for prepared rows of <paramref name="chunkedK"/> elements (a multiple of 512).</summary>
    public static byte[] Emit(int chunkedK)
    {
        if (chunkedK <= 0 || chunkedK % VnniGemvShape.ChunkElements != 0) throw new ArgumentException($"chunked K {chunkedK}");
        int kc = chunkedK, blocks = kc / 32;
        int csaOffset = kc, saOffset = kc + kc / 8;   // prepared row: codes [kc], corr·scale [kc/32], scale [kc/32]
        int tileBytes = blocks * 512, tileScaleBytes = blocks * 64;
        var a = new X86Assembler();
        var labels = new List<Label>();
        Label L() { var l = new Label(); labels.Add(l); return l; }

        VnniCode.Prologue(a);
        a.Mov(Gpr.Rax, new Mem(Args, ArgTailMask));
        a.Kmovq(Tail, Gpr.Rax);
        a.Xor32(Mb, Mb);
        Label mblocks = L(), done = L();
        a.Bind(mblocks);
        a.Cmp(Mb, new Mem(Args, ArgM8));
        a.Jcc(Cond.GreaterOrEqual, done);
        for (int i = 0; i < MBlock; i++)
        {
            a.Lea(A[i], new Mem(Mb, i));
            a.Imul(A[i], new Mem(Args, ArgPrepStride));
            a.Add(A[i], new Mem(Args, ArgPrep));
        }

        a.Xor32(T, T);
        Label tiles = L();
        a.Bind(tiles);
        a.Imul(Tile, T, tileBytes);
        a.Add(Tile, new Mem(Args, ArgTiles));
        a.Imul(TileScale, T, tileScaleBytes);
        a.Add(TileScale, new Mem(Args, ArgTileScales));
        for (int i = 0; i < MBlock; i++) a.Vpxord(F(i), F(i), F(i));
        a.Xor32(Codes, Codes);
        a.Xor32(Floats, Floats);

        // One step = 4 K-blocks = 128 activation codes (64 even, then 64 odd).
        Label step = L();
        a.Bind(step);
        for (int b = 0; b < 4; b++)
        {
            for (int c = 0; c < 8; c++) a.Vmovdqu8(W(c), new Mem(Tile, b * 512 + c * 64));
            a.Vmovups(Wsc, new Mem(TileScale, b * 64));
            for (int i = 0; i < MBlock; i++)
            {
                a.Vpxord(Acc(i), Acc(i), Acc(i));
                for (int c = 0; c < 8; c++)   // chunks 0–3: the block's even codes 4c…4c+3; 4–7: its odd ones
                    a.Vpdpbusd1ToN(Acc(i), W(c), new Mem(A[i], (c < 4 ? 0 : 64) + 16 * b + 4 * (c % 4), Codes));
                a.Vcvtdq2ps(Acc(i), Acc(i));
                a.Vbroadcastss(Csa, new Mem(A[i], csaOffset + 4 * b, Floats));
                a.Vfmadd132ps1ToN(Acc(i), Csa, new Mem(A[i], saOffset + 4 * b, Floats));   // dot · scale + corr · scale
                a.Vfmadd231ps(F(i), Acc(i), Wsc);
            }
        }
        a.Add(Tile, 4 * 512);
        a.Add(TileScale, 4 * 64);
        a.Add(Codes, 128);
        a.Add(Floats, 16);
        a.Cmp(Codes, kc);
        a.Jcc(Cond.Less, step);

        // Store the 8 rows of this tile (rows past M are padding; the tail tile is masked).
        a.Mov(Gpr.Rdx, new Mem(Args, ArgBias));
        Label unmasked = L(), stored = L();
        a.Cmp(T, new Mem(Args, ArgTailTile));
        a.Jcc(Cond.NotEqual, unmasked);
        StoreRows(a, masked: true, L, stored);
        a.Bind(unmasked);
        StoreRows(a, masked: false, L, stored);
        a.Bind(stored);

        a.Add(T, 1);
        a.Cmp(T, new Mem(Args, ArgTileCount));
        a.Jcc(Cond.Less, tiles);
        a.Add(Mb, MBlock);
        a.Jmp(mblocks);

        a.Bind(done);
        VnniCode.Epilogue(a);
        return a.ToArray(labels);
    }

    // Y[mb + i, 16t …] = F(i) (+ bias), i while mb + i < M. Uses rax (row pointer) and rcx (column offset); rdx holds the bias.
    private static void StoreRows(X86Assembler a, bool masked, Func<Label> newLabel, Label after)
    {
        a.Mov(Gpr.Rcx, T);
        a.Shl(Gpr.Rcx, 6);   // 16 floats per tile
        Label noBias = newLabel();
        a.Test(Gpr.Rdx, Gpr.Rdx);
        a.Jcc(Cond.Equal, noBias);
        if (masked) a.Vmovups(BiasV, new Mem(Gpr.Rdx, 0, Gpr.Rcx), Tail, zero: true);
        else a.Vmovups(BiasV, new Mem(Gpr.Rdx, 0, Gpr.Rcx));
        for (int i = 0; i < MBlock; i++) a.Vaddps(F(i), F(i), BiasV);
        a.Bind(noBias);
        for (int i = 0; i < MBlock; i++)
        {
            // row mb + i exists?
            a.Lea(Gpr.Rax, new Mem(Mb, i));
            a.Cmp(Gpr.Rax, new Mem(Args, ArgM));
            a.Jcc(Cond.GreaterOrEqual, after);
            a.Imul(Gpr.Rax, new Mem(Args, ArgYStride));
            a.Add(Gpr.Rax, new Mem(Args, ArgY));
            if (masked) a.Vmovups(new Mem(Gpr.Rax, 0, Gpr.Rcx), F(i), Tail);
            else a.Vmovups(new Mem(Gpr.Rax, 0, Gpr.Rcx), F(i));
        }
        a.Jmp(after);
    }
}
