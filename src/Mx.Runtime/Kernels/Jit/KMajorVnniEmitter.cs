using Mx.Runtime.Formats;
using static Mx.Runtime.Kernels.Jit.Regs;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>The shape a generated K-major kernel is specialised for.</summary>
internal readonly record struct KMajorShape(VnniWeightKind Kind, int Blocks, int Tiles, int N, bool TileIndex)
{
    public int BlockBytes => Kind == VnniWeightKind.Nibble4 ? 16 : 32;
    public int TileBytes => MxKMajorLayout.TileRows * BlockBytes;
    public long BlockStride => (long)Tiles * TileBytes;
    public int PaddedN => Tiles * MxKMajorLayout.TileRows;
    /// <summary>Prepared activation bytes per row of A: 32 codes per K-block.</summary>
    public int ActRowBytes => Blocks * 32;
}

/// <summary>
/// Emits the AVX512_VNNI MX×MX GEMV over a K-major weight (<see cref="MxKMajorLayout"/>) that visits only the K-blocks
/// in a list (the blocks whose activations are not all zero), so a skipped block is a skipped contiguous stream.
/// <para>
/// For a tile of 16 rows and a K-block: 64-byte loads each hold 4 bytes of 16 rows; 4-bit codes go through vpsrlw and
/// two 64-entry vpermb tables (<c>value·2^s + Offset</c>), MXINT8 codes through XOR 0x80; each vpdpbusd takes 4
/// activation codes broadcast to all lanes (<c>{1to16}</c>), so the 16 int32 lanes end as the 16 rows' exact block dot
/// products, with no horizontal sums. Then the activation offset term (<c>Offset·Σa</c>, an int) is subtracted, the
/// lanes are converted and multiplied by the rows' E8M0 scales (vfixupimmps: 0 → 2^−127, 255 → NaN) times the block's
/// activation scale, and accumulated. Active blocks are taken 8 at a time, and each tile walks those 8 streams, so
/// the memory access is 8 sequential streams; partial sums wait in a scratch row between groups.
/// </para>
/// With <see cref="KMajorShape.TileIndex"/>, a table gives each (K-block, tile)'s stored index (−1: an all-zero tile
/// that is not stored, skipped), for weights with block sparsity.
/// </summary>
internal static class KMajorVnniEmitter
{
    internal const int ArgW = 0, ArgS = 8, ArgActive = 16, ArgActiveCount = 24, ArgAct = 32, ArgCorr = 40, ArgAScale = 48,
        ArgM = 56, ArgT0 = 64, ArgT1 = 72, ArgYscr = 80, ArgY = 88, ArgYStride = 96, ArgBias = 104, ArgConsts = 112,
        ArgTileIndex = 120, ArgGroupEnd = 128, ArgGroupStart = 136;

    internal const int ConstTable = 0, ConstFixup = 64, ConstTiny = 128, ConstBytes = 192;

    /// <summary>K-blocks taken together by each tile.</summary>
    public const int Group = 8;

    private const Gpr Args = Gpr.Rdi, T = Gpr.Rbx, M = Gpr.Rsi, I = Gpr.R8, GEnd = Gpr.R9, J = Gpr.R11,
        WPtr = Gpr.R12, SPtr = Gpr.R13, Act = Gpr.R14, Yscr = Gpr.Rbp, Corr = Gpr.Rdx, AScale = Gpr.Rcx, Tmp = Gpr.Rax, Tmp2 = Gpr.R15;
    private static readonly Vec Yacc = Z(0), Acc = Z(1), W0 = Z(2), W1 = Z(3), Sb = Z(4), Sv = Z(5), Bias = Z(6);
    private static readonly Vec Fix = Z(29), Tiny = Z(30), Table = Z(31);
    private static readonly KReg Tail = K(1);

    /// <summary>The code for <paramref name="shape"/> (System V ABI: <c>void f(KMajorArgs*)</c>).</summary>
    public static byte[] Emit(KMajorShape shape)
    {
        var a = new X86Assembler();
        var labels = new List<Label>();
        Label L() { var l = new Label(); labels.Add(l); return l; }
        int tail = shape.N % MxKMajorLayout.TileRows;

        VnniCode.Prologue(a);
        a.Mov(Tmp, new Mem(Args, ArgConsts));
        a.Vmovdqu32(Table, new Mem(Tmp, ConstTable));
        a.Vmovdqu32(Fix, new Mem(Tmp, ConstFixup));
        a.Vmovdqu32(Tiny, new Mem(Tmp, ConstTiny));
        if (tail != 0)
        {
            a.Mov(Tmp, (1L << tail) - 1);
            a.Kmovq(Tail, Tmp);
        }

        // for each group of active blocks [GroupStart, GroupEnd) — the caller loops over groups (one call per group
        // keeps the loop bounds out of registers); inside: every tile of [T0, T1), every row of A.
        a.Mov(T, new Mem(Args, ArgT0));
        Label tiles = L(), done = L();
        a.Bind(tiles);
        a.Cmp(T, new Mem(Args, ArgT1));
        a.Jcc(Cond.GreaterOrEqual, done);

        a.Xor32(M, M);
        Label rows = L();
        a.Bind(rows);
        // Per row of A: activation codes, offset terms and scales of that row; the scratch partial sums of this tile.
        a.Mov(Act, M);
        a.Imul(Act, Act, shape.ActRowBytes);
        a.Add(Act, new Mem(Args, ArgAct));
        a.Mov(Tmp, M);
        a.Imul(Tmp, Tmp, shape.Blocks * 4);
        a.Mov(Corr, new Mem(Args, ArgCorr));
        a.Add(Corr, Tmp);
        a.Mov(AScale, new Mem(Args, ArgAScale));
        a.Add(AScale, Tmp);
        a.Mov(Yscr, M);
        a.Imul(Yscr, Yscr, shape.PaddedN * 4);
        a.Add(Yscr, new Mem(Args, ArgYscr));
        a.Mov(Tmp, T);
        a.Shl(Tmp, 6);   // 16 floats per tile
        a.Add(Yscr, Tmp);

        Label fresh = L(), loaded = L();
        a.Mov(I, new Mem(Args, ArgGroupStart));
        a.Test(I, I);
        a.Jcc(Cond.Equal, fresh);
        a.Vmovups(Yacc, new Mem(Yscr));
        a.Jmp(loaded);
        a.Bind(fresh);
        a.Vpxord(Yacc, Yacc, Yacc);
        a.Bind(loaded);
        a.Mov(GEnd, new Mem(Args, ArgGroupEnd));

        Label blocks = L(), blocksDone = L(), nextBlock = L();
        a.Cmp(I, GEnd);
        a.Jcc(Cond.GreaterOrEqual, blocksDone);
        a.Bind(blocks);
        a.Mov(Tmp, new Mem(Args, ArgActive));
        a.Mov32(J, new Mem(Tmp, 0, I, 4));
        // Weight tile: dense W + j·BlockStride + t·TileBytes, or the stored index from the tile table.
        if (shape.TileIndex)
        {
            a.Mov(Tmp, J);
            a.Imul(Tmp, Tmp, shape.Tiles);
            a.Add(Tmp, T);
            a.Mov(Tmp2, new Mem(Args, ArgTileIndex));
            a.Mov32(WPtr, new Mem(Tmp2, 0, Tmp, 4));
            a.Mov(Tmp2, 0xFFFFFFFFL);   // mov r32 zero-extends: −1 reads as 0xFFFFFFFF
            a.Cmp(WPtr, Tmp2);
            a.Jcc(Cond.Equal, nextBlock);
            a.Imul(WPtr, WPtr, shape.TileBytes);
            a.Add(WPtr, new Mem(Args, ArgW));
        }
        else
        {
            a.Imul(WPtr, J, checked((int)shape.BlockStride));
            a.Add(WPtr, new Mem(Args, ArgW));
            a.Imul(Tmp, T, shape.TileBytes);
            a.Add(WPtr, Tmp);
        }
        a.Imul(SPtr, J, shape.PaddedN);
        a.Add(SPtr, new Mem(Args, ArgS));
        a.Mov(Tmp, T);
        a.Shl(Tmp, 4);
        a.Add(SPtr, Tmp);
        a.Mov(Tmp, J);
        a.Shl(Tmp, 5);   // 32 activation codes per block

        a.Vpxord(Acc, Acc, Acc);
        if (shape.Kind == VnniWeightKind.Nibble4)
            for (int c = 0; c < 4; c++)
            {
                a.Vmovdqu8(W0, new Mem(WPtr, 64 * c));
                a.Vpsrlw(W1, W0, 4);
                a.Vpermb(W0, W0, Table);
                a.Vpermb(W1, W1, Table);
                a.Vpdpbusd1ToN(Acc, W0, new Mem(Act, 8 * c, Tmp));       // elements 8c, 8c+2, 8c+4, 8c+6
                a.Vpdpbusd1ToN(Acc, W1, new Mem(Act, 8 * c + 4, Tmp));   // elements 8c+1, …, 8c+7
            }
        else
            for (int c = 0; c < 8; c++)
            {
                a.Vpxord(W0, Table, new Mem(WPtr, 64 * c));
                a.Vpdpbusd1ToN(Acc, W0, new Mem(Act, 4 * c, Tmp));
            }
        a.Vpsubd1ToN(Acc, Acc, new Mem(Corr, 0, J, 4));   // − Offset·Σa of the block
        a.Vcvtdq2ps(Acc, Acc);
        a.Vpmovzxbd(Sb, new Mem(SPtr));
        a.Vpslld(Sb, Sb, 23);
        a.Vmovaps(Sv, Tiny);
        a.Vfixupimmps(Sv, Sb, Fix, 0);
        a.Vmulps1ToN(Sv, Sv, new Mem(AScale, 0, J, 4));
        a.Vfmadd231ps(Yacc, Acc, Sv);
        a.Bind(nextBlock);
        a.Add(I, 1);
        a.Cmp(I, GEnd);
        a.Jcc(Cond.Less, blocks);
        a.Bind(blocksDone);

        // Last group: Y[m, 16t …] = yacc (+ bias), masked on the last partial tile; otherwise keep the partial sums.
        Label final = L(), stored = L();
        a.Cmp(GEnd, new Mem(Args, ArgActiveCount));
        a.Jcc(Cond.GreaterOrEqual, final);
        a.Vmovups(new Mem(Yscr), Yacc);
        a.Jmp(stored);
        a.Bind(final);
        a.Mov(Tmp, M);
        a.Imul(Tmp, new Mem(Args, ArgYStride));
        a.Add(Tmp, new Mem(Args, ArgY));
        a.Mov(Tmp2, new Mem(Args, ArgBias));
        Label partial = L();
        if (tail != 0)
        {
            a.Cmp(T, shape.Tiles - 1);
            a.Jcc(Cond.Equal, partial);
        }
        Label noBias = L();
        a.Test(Tmp2, Tmp2);
        a.Jcc(Cond.Equal, noBias);
        a.Mov(Corr, T);
        a.Shl(Corr, 6);
        a.Vaddps(Yacc, Yacc, new Mem(Tmp2, 0, Corr));
        a.Bind(noBias);
        a.Mov(Corr, T);
        a.Shl(Corr, 6);
        a.Vmovups(new Mem(Tmp, 0, Corr), Yacc);
        a.Jmp(stored);
        if (tail != 0)
        {
            a.Bind(partial);
            Label noBiasTail = L();
            a.Mov(Corr, T);
            a.Shl(Corr, 6);
            a.Test(Tmp2, Tmp2);
            a.Jcc(Cond.Equal, noBiasTail);
            a.Vmovups(Bias, new Mem(Tmp2, 0, Corr), Tail, zero: true);
            a.Vaddps(Yacc, Yacc, Bias);
            a.Bind(noBiasTail);
            a.Vmovups(new Mem(Tmp, 0, Corr), Yacc, Tail);
        }
        a.Bind(stored);
        a.Add(M, 1);
        a.Cmp(M, new Mem(Args, ArgM));
        a.Jcc(Cond.Less, rows);
        a.Add(T, 1);
        a.Jmp(tiles);

        a.Bind(done);
        VnniCode.Epilogue(a);
        return a.ToArray(labels);
    }
}
