using static Mx.Runtime.Kernels.Jit.Regs;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>Which weight codes a generated MX×MX kernel reads.</summary>
internal enum VnniWeightKind
{
    /// <summary>4-bit codes (MXFP4, MXINT4): two 64-entry vpermb lookups give <c>value·2^s + Offset</c> (unsigned).</summary>
    Nibble4,

    /// <summary>MXINT8 codes, XOR 0x80 = <c>w + 128</c> (unsigned).</summary>
    Int8,

    /// <summary>
    /// 6-bit codes with integer values (MXFP6 E2M3 ·8): 48 bytes spread by vpermb so each qword holds 8 codes,
    /// vpmultishiftqb puts code i at byte i, and a 64-entry vpermb table gives <c>value·2^s + Offset</c>.
    /// </summary>
    Six6,
}

/// <summary>
/// The shape a generated kernel is specialised for: weight kind, block size and the byte geometry of one weight row
/// (so loop bounds, tail masks and displacements are immediates).
/// </summary>
internal readonly record struct VnniGemvShape(VnniWeightKind Kind, int BlockSize, int RowBytes, int BlocksPerRow, int ChunkedK)
{
    /// <summary>Elements per chunk (16 sub-blocks of 32: one zmm of lane scales).</summary>
    public const int ChunkElements = 512;

    public int ChunkBytes => Kind switch { VnniWeightKind.Nibble4 => ChunkElements / 2, VnniWeightKind.Six6 => ChunkElements * 3 / 4, _ => ChunkElements };

    /// <summary>Weight bytes per step: 128 elements of 4-bit codes, 64 of 8-bit codes, 64 of 6-bit codes.</summary>
    public int StepBytes => Kind == VnniWeightKind.Six6 ? 48 : 64;
    public int ChunkScaleBytes => BlockSize == 64 ? 8 : 16;
    public int Chunks => ChunkedK / ChunkElements;

    /// <summary>Chunks whose weight and scale bytes lie wholly inside the row.</summary>
    public int FullChunks => Math.Min(RowBytes / ChunkBytes, BlocksPerRow / ChunkScaleBytes);

    /// <summary>Weight bytes of the last, partial chunk (0 when every chunk is whole).</summary>
    public int TailBytes => FullChunks < Chunks ? RowBytes - FullChunks * ChunkBytes : 0;

    /// <summary>Scale bytes of the last, partial chunk.</summary>
    public int TailScaleBytes => FullChunks < Chunks ? BlocksPerRow - FullChunks * ChunkScaleBytes : 0;

    /// <summary>Steps per chunk.</summary>
    public int Steps => ChunkBytes / StepBytes;
}

/// <summary>
/// Emits the AVX512_VNNI MX×MX GEMV: Y[m, n0..n1) for every prepared activation row m, four weight rows at a time.
/// <para>
/// Per 64 weight bytes and row: one load; for 4-bit codes a shift and two vpermb (the 64-entry table repeats the 16
/// values, so vpermb's 6-bit index needs no mask), for MXINT8 one vpxord with 0x80 (folded into the load); then
/// vpdpbusd on zmm (exact int32 sums of 4 products per lane: the weights are the unsigned operand, the activation codes
/// the signed one, read straight from memory), one conversion, one vpermps of the lane scales and one FMA. Weight and
/// activation scales are applied per 512-element chunk: E8M0 bytes → <c>b &lt;&lt; 23</c>, fixed up by vfixupimmps
/// (0 → 2^−127, 255 → NaN), times the activation's sub-block scales; the weight offset's share
/// (<c>Offset·Σa</c>, a property of the activations) is one FMA per chunk. A last partial chunk uses masked loads, so
/// no byte past a row is read. The data layout and arithmetic are those of <see cref="MxMxNibble4Avx512"/> and
/// <see cref="MxMxInt8Avx512"/>, whose activation preparation it shares; only the fp32 summation order differs.
/// </para>
/// </summary>
internal static class VnniGemvEmitter
{
    // Argument block offsets (see VnniGemvArgs).
    internal const int ArgPrep = 0, ArgPrepStride = 8, ArgM = 16, ArgElements = 24, ArgScales = 32, ArgN0 = 40, ArgN1 = 48,
        ArgY = 56, ArgYStride = 64, ArgBias = 72, ArgConsts = 80;

    // Constant block offsets (64 bytes each; see VnniConstants).
    internal const int ConstTable = 0, ConstFixup = 64, ConstTiny = 128, ConstDup = 192, ConstLaneIdx = 256, ConstSpread = 768, ConstShift = 832, ConstBytes = 896;

    private static readonly Gpr[] E = [Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11];
    private static readonly Gpr[] S = [Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15];
    private const Gpr Args = Gpr.Rdi, Nt = Gpr.Rbx, M = Gpr.Rsi, EOff = Gpr.Rax, SOff = Gpr.Rdx, Act = Gpr.Rcx, Corr = Gpr.Rbp;

    private static Vec F(int r) => Z(r);            // accumulators zmm0–3
    private static Vec V(int r) => Z(4 + r);        // lane scales of the chunk, zmm4–7
    private static Vec TA(int r) => Z(8 + r);       // temporaries zmm8–19
    private static Vec TB(int r) => Z(12 + r);
    private static Vec TC(int r) => Z(16 + r);
    private static Vec Idx(int q) => Z(20 + q);     // lane index vectors zmm20–27
    private static readonly Vec Fix = Z(28), Tiny = Z(29), Dup = Z(30), Table = Z(31);
    // 6-bit codes only (they use no TB temporaries): the byte spread and the multishift bit offsets.
    private static readonly Vec Spread = Z(14), Shift = Z(15);
    private static readonly KReg StepMask = K(1), ScaleMask = K(2), Load48 = K(3);

    /// <summary>Rows ahead that the weight loads prefetch into L2 (measured on Zen 4, one 4096×11008 MXFP4 layer after
    /// another from DRAM, one thread: none 8.7 GB/s, prefetcht0 10.6, prefetcht1 19.9; 4–32 rows alike).</summary>
    internal const int PrefetchRows = 8;

    /// <summary>The machine code of the kernel for <paramref name="shape"/> (System V ABI: <c>void f(VnniGemvArgs*)</c>).</summary>
    public static byte[] Emit(VnniGemvShape shape)
    {
        if (shape.Chunks < 1 || shape.FullChunks < shape.Chunks - 1)
            throw new ArgumentException($"inconsistent kernel shape {shape}");
        var a = new X86Assembler();
        var labels = new List<Label>();
        Label L() { var l = new Label(); labels.Add(l); return l; }

        VnniCode.Prologue(a);
        a.Mov(Gpr.Rax, new Mem(Args, ArgConsts));
        a.Vmovdqu32(Table, new Mem(Gpr.Rax, ConstTable));
        a.Vmovdqu32(Fix, new Mem(Gpr.Rax, ConstFixup));
        a.Vmovdqu32(Tiny, new Mem(Gpr.Rax, ConstTiny));
        a.Vmovdqu32(Dup, new Mem(Gpr.Rax, ConstDup));
        for (int q = 0; q < shape.Steps; q++) a.Vmovdqu32(Idx(q), new Mem(Gpr.Rax, ConstLaneIdx + 64 * q));
        if (shape.Kind == VnniWeightKind.Six6)
        {
            a.Vmovdqu32(Spread, new Mem(Gpr.Rax, ConstSpread));
            a.Vmovdqu32(Shift, new Mem(Gpr.Rax, ConstShift));
            a.Mov(Gpr.Rax, (1L << 48) - 1);
            a.Kmovq(Load48, Gpr.Rax);
        }
        int tailSteps = 0;
        if (shape.TailBytes > 0)
        {
            tailSteps = (shape.TailBytes + shape.StepBytes - 1) / shape.StepBytes;
            int partial = shape.TailBytes % shape.StepBytes;
            int maskBits = shape.Kind == VnniWeightKind.Int8 ? partial / 4 : partial;   // vpxord masks dwords, vmovdqu8 bytes
            a.Mov(Gpr.Rax, partial == 0 ? -1L : (long)((1UL << maskBits) - 1));
            a.Kmovq(StepMask, Gpr.Rax);
            a.Mov(Gpr.Rax, (long)((1UL << shape.TailScaleBytes) - 1));
            a.Kmovq(ScaleMask, Gpr.Rax);
        }

        a.Mov(Nt, new Mem(Args, ArgN0));
        Label group = L(), done = L();
        a.Bind(group);
        a.Cmp(Nt, new Mem(Args, ArgN1));
        a.Jcc(Cond.GreaterOrEqual, done);

        // Row pointers of the group; rows past n1 repeat the last row (computed, never stored).
        a.Mov(Gpr.Rax, new Mem(Args, ArgN1));
        a.Add(Gpr.Rax, -1);
        for (int i = 0; i < 4; i++)
        {
            a.Lea(Gpr.Rcx, new Mem(Nt, i));
            a.Cmp(Gpr.Rcx, Gpr.Rax);
            a.Cmov(Cond.Greater, Gpr.Rcx, Gpr.Rax);
            a.Imul(E[i], Gpr.Rcx, shape.RowBytes);
            a.Add(E[i], new Mem(Args, ArgElements));
            a.Imul(S[i], Gpr.Rcx, shape.BlocksPerRow);
            a.Add(S[i], new Mem(Args, ArgScales));
        }

        a.Xor32(M, M);
        Label rows = L();
        a.Bind(rows);
        a.Mov(Act, M);
        a.Imul(Act, new Mem(Args, ArgPrepStride));
        a.Add(Act, new Mem(Args, ArgPrep));
        a.Lea(Corr, new Mem(Act, shape.ChunkedK));
        for (int r = 0; r < 4; r++) a.Vpxord(F(r), F(r), F(r));
        a.Xor32(EOff, EOff);
        a.Xor32(SOff, SOff);
        if (shape.FullChunks > 0)
        {
            Label chunk = L();
            a.Bind(chunk);
            ChunkBody(a, shape, shape.Steps, masked: false);
            a.Add(EOff, shape.ChunkBytes);
            a.Add(SOff, shape.ChunkScaleBytes);
            a.Add(Act, VnniGemvShape.ChunkElements);
            a.Add(Corr, 64);
            a.Cmp(EOff, shape.FullChunks * shape.ChunkBytes);
            a.Jcc(Cond.Less, chunk);
        }
        if (tailSteps > 0) ChunkBody(a, shape, tailSteps, masked: true);

        // Y[m, nt + i] = Σ lanes of f_i (+ bias) for the rows that exist.
        a.Mov(Gpr.Rax, M);
        a.Imul(Gpr.Rax, new Mem(Args, ArgYStride));
        a.Add(Gpr.Rax, new Mem(Args, ArgY));
        a.Mov(Gpr.Rdx, new Mem(Args, ArgN1));
        a.Sub(Gpr.Rdx, Nt);
        a.Mov(Gpr.Rcx, new Mem(Args, ArgBias));
        Label stored = L();
        VnniCode.StoreRows(a, Gpr.Rax, Nt, Gpr.Rdx, Gpr.Rcx, L, stored);
        a.Bind(stored);
        a.Add(M, 1);
        a.Cmp(M, new Mem(Args, ArgM));
        a.Jcc(Cond.Less, rows);
        a.Add(Nt, 4);
        a.Jmp(group);

        a.Bind(done);
        VnniCode.Epilogue(a);
        return a.ToArray(labels);
    }

    // One 512-element chunk for the 4 rows: lane scales, the offset correction, then the steps.
    private static void ChunkBody(X86Assembler a, VnniGemvShape shape, int steps, bool masked)
    {
        for (int r = 0; r < 4; r++)
        {
            Vec t = TA(r);
            var scales = new Mem(S[r], 0, SOff);
            if (masked) a.Vmovdqu8(t.As(128), scales, ScaleMask, zero: true);
            else if (shape.BlockSize == 64) a.Vmovq(t.As(128), scales);
            if (masked || shape.BlockSize == 64) a.Vpmovzxbd(t, t.As(128));
            else a.Vpmovzxbd(t, scales);
            if (shape.BlockSize == 64) a.Vpermd(t, Dup, t);   // 8 block scales → 16 sub-block lanes
            a.Vpslld(t, t, 23);
            a.Vmovaps(V(r), Tiny);
            a.Vfixupimmps(V(r), t, Fix, 0);
            a.Vmulps(V(r), V(r), new Mem(Corr, shape.ChunkedK / 8));   // × the activation's sub-block scales
            a.Vfmadd231ps(F(r), V(r), new Mem(Corr));                   // the weight offset's share, −Offset·Σa
        }
        int stepBytes = shape.StepBytes, fullBytes = masked ? shape.TailBytes : steps * stepBytes;
        for (int q = 0; q < steps; q++)
        {
            bool partial = masked && (q + 1) * stepBytes > fullBytes;
            for (int r = 0; r < 4; r++)
            {
                var w = new Mem(E[r], q * stepBytes, EOff);
                // The same bytes of the row PrefetchRows ahead (a later group's): rows are short streams (1 KiB at
                // K = 2048 for 4-bit codes) that the hardware prefetchers barely learn before they end. Into L2, not
                // L1: prefetcht0 holds an L1 miss buffer per line and gets half the gain.
                a.Prefetcht1(w + PrefetchRows * shape.RowBytes);
                Vec ta = TA(r), tb = TB(r), tc = TC(r);
                a.Vpxord(tc, tc, tc);
                if (shape.Kind == VnniWeightKind.Nibble4)
                {
                    if (partial) a.Vmovdqu8(ta, w, StepMask, zero: true);
                    else a.Vmovdqu8(ta, w);
                    a.Vpsrlw(tb, ta, 4);
                    a.Vpermb(ta, ta, Table);
                    a.Vpermb(tb, tb, Table);
                    a.Vpdpbusd(tc, ta, new Mem(Act, 128 * q));
                    a.Vpdpbusd(tc, tb, new Mem(Act, 128 * q + 64));
                }
                else if (shape.Kind == VnniWeightKind.Six6)
                {
                    a.Vmovdqu8(ta, w, partial ? StepMask : Load48, zero: true);   // 48 bytes: 64 codes
                    a.Vpermb(ta, Spread, ta);
                    a.Vpmultishiftqb(ta, Shift, ta);
                    a.Vpermb(ta, ta, Table);                                      // vpermb reads the low 6 bits only
                    a.Vpdpbusd(tc, ta, new Mem(Act, 64 * q));
                }
                else
                {
                    if (partial) a.Vpxord(ta, Table, w, StepMask, zero: true);
                    else a.Vpxord(ta, Table, w);
                    a.Vpdpbusd(tc, ta, new Mem(Act, 64 * q));
                }
                a.Vcvtdq2ps(tc, tc);
                a.Vpermps(ta, Idx(q), V(r));
                a.Vfmadd231ps(F(r), tc, ta);
            }
        }
    }
}
