using static Mx.Runtime.Kernels.Jit.Regs;

namespace Mx.Runtime.Kernels.Jit;

/// <summary>
/// Emits the AVX512_VNNI MX×MX kernel over one group of 4 weight rows already decoded (by
/// <see cref="MxMxDecodedVnni"/>) to unsigned bytes <c>value·2^s + Offset</c> in the activations' step order (per 128
/// elements: the 64 even elements, then the 64 odd ones), with fp32 weight scales per 32-element sub-block. It walks
/// chunks [C0, C1) of K for every prepared activation row, carrying partial sums between K blocks in a buffer, and on
/// the last block writes Y. Per 128 elements, row and activation row: two weight loads, two vpdpbusd on zmm (the
/// activation codes read from memory), one conversion, one vpermps of the lane scales and one FMA.
/// </summary>
internal static class VnniDecodedEmitter
{
    // Argument block offsets (see VnniDecodedArgs).
    internal const int ArgDec = 0, ArgWsc = 8, ArgPrep = 16, ArgPrepStride = 24, ArgM = 32, ArgY = 40, ArgYStride = 48,
        ArgBias = 56, ArgNc = 64, ArgC0 = 72, ArgC1x64 = 80, ArgAcc = 88, ArgLast = 96, ArgConsts = 104;

    private static readonly Gpr[] E = [Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11];
    private static readonly Gpr[] W = [Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15];
    private const Gpr Args = Gpr.Rdi, M = Gpr.Rsi, Act = Gpr.Rcx, Corr = Gpr.Rbp, Acc = Gpr.Rdx, Off64 = Gpr.Rax, Off512 = Gpr.Rbx;

    private static Vec F(int r) => Z(r);
    private static Vec V(int r) => Z(4 + r);
    private static Vec TA(int r) => Z(8 + 3 * r);
    private static Vec TB(int r) => Z(9 + 3 * r);
    private static Vec TC(int r) => Z(10 + 3 * r);
    private static Vec Idx(int q) => Z(20 + q);

    /// <summary>The code for prepared/decoded rows of <paramref name="chunkedK"/> elements (a multiple of 512).</summary>
    public static byte[] Emit(int chunkedK)
    {
        if (chunkedK <= 0 || chunkedK % VnniGemvShape.ChunkElements != 0) throw new ArgumentException($"chunked K {chunkedK}");
        int kc = chunkedK, subOffset = kc / 8;   // bytes from a row's corrections to its sub-block scales (kc/32 floats)
        var a = new X86Assembler();
        var labels = new List<Label>();
        Label L() { var l = new Label(); labels.Add(l); return l; }

        VnniCode.Prologue(a);
        a.Mov(Gpr.Rax, new Mem(Args, ArgConsts));
        for (int q = 0; q < 4; q++) a.Vmovdqu32(Idx(q), new Mem(Gpr.Rax, VnniGemvEmitter.ConstLaneIdx + 64 * q));
        a.Mov(Gpr.Rax, new Mem(Args, ArgDec));
        a.Mov(Gpr.Rbx, new Mem(Args, ArgWsc));
        for (int r = 0; r < 4; r++)
        {
            a.Lea(E[r], new Mem(Gpr.Rax, r * kc));
            a.Lea(W[r], new Mem(Gpr.Rbx, r * (kc / 8)));
        }

        a.Xor32(M, M);
        Label rows = L(), done = L();
        a.Cmp(M, new Mem(Args, ArgM));
        a.Jcc(Cond.GreaterOrEqual, done);
        a.Bind(rows);
        a.Mov(Act, M);
        a.Imul(Act, new Mem(Args, ArgPrepStride));
        a.Add(Act, new Mem(Args, ArgPrep));
        a.Lea(Corr, new Mem(Act, kc));
        a.Mov(Acc, M);
        a.Imul(Acc, Acc, 4 * 64);
        a.Add(Acc, new Mem(Args, ArgAcc));

        // Partial sums: zero on the first K block, else carried in.
        Label fresh = L(), loaded = L();
        a.Mov(Off64, new Mem(Args, ArgC0));
        a.Test(Off64, Off64);
        a.Jcc(Cond.Equal, fresh);
        for (int r = 0; r < 4; r++) a.Vmovups(F(r), new Mem(Acc, 64 * r));
        a.Jmp(loaded);
        a.Bind(fresh);
        for (int r = 0; r < 4; r++) a.Vpxord(F(r), F(r), F(r));
        a.Bind(loaded);
        a.Mov(Off512, Off64);
        a.Imul(Off512, Off512, 512);
        a.Imul(Off64, Off64, 64);

        Label chunk = L();
        a.Bind(chunk);
        for (int r = 0; r < 4; r++)
        {
            a.Vmovups(V(r), new Mem(W[r], 0, Off64));
            a.Vmulps(V(r), V(r), new Mem(Corr, subOffset, Off64));     // × the activation's sub-block scales
            a.Vfmadd231ps(F(r), V(r), new Mem(Corr, 0, Off64));        // the weight offset's share, −Offset·Σa
        }
        for (int q = 0; q < 4; q++)
            for (int r = 0; r < 4; r++)
            {
                Vec ta = TA(r), tb = TB(r), tc = TC(r);
                a.Vmovdqu8(ta, new Mem(E[r], 128 * q, Off512));
                a.Vmovdqu8(tb, new Mem(E[r], 128 * q + 64, Off512));
                a.Vpxord(tc, tc, tc);
                a.Vpdpbusd(tc, ta, new Mem(Act, 128 * q, Off512));
                a.Vpdpbusd(tc, tb, new Mem(Act, 128 * q + 64, Off512));
                a.Vcvtdq2ps(tc, tc);
                a.Vpermps(ta, Idx(q), V(r));
                a.Vfmadd231ps(F(r), tc, ta);
            }
        a.Add(Off64, 64);
        a.Add(Off512, 512);
        a.Cmp(Off64, new Mem(Args, ArgC1x64));
        a.Jcc(Cond.Less, chunk);

        // Last K block: Y[m, 0..Nc) (+ bias); otherwise keep the partial sums.
        Label store = L(), next = L();
        a.Mov(Gpr.Rax, new Mem(Args, ArgLast));
        a.Test(Gpr.Rax, Gpr.Rax);
        a.Jcc(Cond.NotEqual, store);
        for (int r = 0; r < 4; r++) a.Vmovups(new Mem(Acc, 64 * r), F(r));
        a.Jmp(next);
        a.Bind(store);
        a.Mov(Gpr.Rax, M);
        a.Imul(Gpr.Rax, new Mem(Args, ArgYStride));
        a.Add(Gpr.Rax, new Mem(Args, ArgY));
        a.Mov(Gpr.Rdx, new Mem(Args, ArgNc));
        a.Mov(Gpr.Rcx, new Mem(Args, ArgBias));
        VnniCode.StoreRows(a, Gpr.Rax, null, Gpr.Rdx, Gpr.Rcx, L, next);
        a.Bind(next);
        a.Add(M, 1);
        a.Cmp(M, new Mem(Args, ArgM));
        a.Jcc(Cond.Less, rows);

        a.Bind(done);
        VnniCode.Epilogue(a);
        return a.ToArray(labels);
    }
}

/// <summary>Code shared by the generated kernels: register saving and the final sums into Y.</summary>
internal static class VnniCode
{
    private static readonly Gpr[] Saved = [Gpr.Rbx, Gpr.Rbp, Gpr.R12, Gpr.R13, Gpr.R14, Gpr.R15];

    /// <summary>Saves the System V callee-saved registers the kernels use (vector and mask registers are all caller-saved).</summary>
    public static void Prologue(X86Assembler a)
    {
        foreach (var r in Saved) a.Push(r);
    }

    public static void Epilogue(X86Assembler a)
    {
        a.Vzeroupper();
        for (int i = Saved.Length - 1; i >= 0; i--) a.Pop(Saved[i]);
        a.Ret();
    }

    /// <summary>
    /// y[col + i] = Σ lanes of zmm i (+ bias[col + i]) for i &lt; count (1–4), where col is <paramref name="column"/>
    /// (or 0 when null), <paramref name="y"/> and <paramref name="bias"/> (null allowed at run time) point at column 0.
    /// Jumps to <paramref name="after"/> when done; clobbers zmm0–3 and zmm16.
    /// </summary>
    public static void StoreRows(X86Assembler a, Gpr y, Gpr? column, Gpr count, Gpr bias, Func<Label> newLabel, Label after)
    {
        for (int i = 0; i < 4; i++)
        {
            if (i > 0)
            {
                a.Cmp(count, i);
                a.Jcc(Cond.LessOrEqual, after);
            }
            Vec f = Z(i);
            ReduceToLowLane(a, f, Z(16));
            Label noBias = newLabel();
            a.Test(bias, bias);
            a.Jcc(Cond.Equal, noBias);
            a.Vaddss(f.As(128), f.As(128), column is { } c ? new Mem(bias, 4 * i, c, 4) : new Mem(bias, 4 * i));
            a.Bind(noBias);
            a.Vmovss(column is { } c2 ? new Mem(y, 4 * i, c2, 4) : new Mem(y, 4 * i), f.As(128));
        }
        a.Jmp(after);
    }

    // f.lane0 = Σ of f's 16 lanes (f's upper lanes are clobbered).
    private static void ReduceToLowLane(X86Assembler a, Vec f, Vec t)
    {
        a.Vextractf64x4(t.As(256), f, 1);
        a.Vaddps(f.As(256), f.As(256), t.As(256));
        a.Vextractf32x4(t.As(128), f.As(256), 1);
        a.Vaddps(f.As(128), f.As(128), t.As(128));
        a.Vmovhlps(t.As(128), f.As(128), f.As(128));
        a.Vaddps(f.As(128), f.As(128), t.As(128));
        a.Vmovshdup(t.As(128), f.As(128));
        a.Vaddss(f.As(128), f.As(128), t.As(128));
    }
}
