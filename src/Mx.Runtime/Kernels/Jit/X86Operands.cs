namespace Mx.Runtime.Kernels.Jit;

/// <summary>A 64-bit general-purpose register (encoding number 0–15).</summary>
internal enum Gpr
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>A vector register: number 0–31 and width (xmm 128, ymm 256, zmm 512 bits).</summary>
internal readonly record struct Vec(int Id, int Bits)
{
    /// <summary>EVEX.L'L for this width.</summary>
    public int LengthCode => Bits switch { 128 => 0, 256 => 1, 512 => 2, _ => throw new InvalidOperationException($"vector width {Bits}") };

    /// <summary>The same register at another width (e.g. the ymm half of a zmm).</summary>
    public Vec As(int bits) => new(Id, bits);

    public override string ToString() => (Bits switch { 128 => "xmm", 256 => "ymm", _ => "zmm" }) + Id;
}

/// <summary>An AVX-512 opmask register k0–k7 (k0 as a write mask means "no mask").</summary>
internal readonly record struct KReg(int Id)
{
    public override string ToString() => "k" + Id;
}

/// <summary>A memory operand [base + index·scale + disp] (no RIP-relative form; index may not be rsp).</summary>
internal readonly record struct Mem(Gpr Base, int Disp = 0, Gpr? Index = null, int Scale = 1)
{
    public static Mem operator +(Mem m, int d) => m with { Disp = m.Disp + d };

    public override string ToString() =>
        $"[{Base}{(Index is { } i ? $"+{i}*{Scale}" : "")}{(Disp != 0 ? $"{Disp:+#;-#}" : "")}]";
}

/// <summary>Register constructors that read like assembly: <c>Z(3)</c> is zmm3.</summary>
internal static class Regs
{
    public static Vec Z(int i) => new(i, 512);
    public static Vec Y(int i) => new(i, 256);
    public static Vec X(int i) => new(i, 128);
    public static KReg K(int i) => new(i);
}
