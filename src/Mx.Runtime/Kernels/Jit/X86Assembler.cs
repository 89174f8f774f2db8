namespace Mx.Runtime.Kernels.Jit;

/// <summary>Branch conditions (the low nibble of Jcc/CMOVcc opcodes).</summary>
internal enum Cond
{
    Below = 0x2, AboveOrEqual = 0x3, Equal = 0x4, NotEqual = 0x5, BelowOrEqual = 0x6, Above = 0x7,
    Less = 0xC, GreaterOrEqual = 0xD, LessOrEqual = 0xE, Greater = 0xF,
}

/// <summary>A jump target; bound once with <see cref="X86Assembler.Bind"/>.</summary>
internal sealed class Label
{
    internal int Position = -1;
    internal readonly List<int> Fixups = [];
}

/// <summary>
/// A small x86-64 assembler for the kernels that .NET cannot express (it exposes no 512-bit VNNI on CPUs without
/// AVX10): the general-purpose instructions a kernel loop needs (legacy/REX encoding), the AVX-512 instructions the
/// kernels use (EVEX encoding, any of the 32 vector registers, write masks and zeroing) and the opmask moves (VEX).
/// <para>
/// Memory operands use disp8·N compression where the displacement allows it, with N = the bytes the operand reads or
/// writes (which is the EVEX rule for every tuple type when no broadcast is used; with a {1toN} broadcast, N is the element
/// size), else a 32-bit displacement. Each
/// method is named after its mnemonic, with operands in Intel order (destination first). Encodings are checked
/// against GNU as in the tests.
/// </para>
/// </summary>
internal sealed class X86Assembler
{
    private readonly List<byte> _code = [];

    /// <summary>Bytes emitted so far.</summary>
    public int Length => _code.Count;

    /// <summary>The code, with every label bound (throws if a used label was never bound).</summary>
    public byte[] ToArray(IEnumerable<Label>? labels = null)
    {
        if (labels != null)
            foreach (var l in labels)
                if (l.Position < 0 && l.Fixups.Count > 0) throw new InvalidOperationException("a label is used but never bound");
        return [.. _code];
    }

    // ---------------------------------------------------------------- labels and branches

    public void Bind(Label label)
    {
        if (label.Position >= 0) throw new InvalidOperationException("label bound twice");
        label.Position = _code.Count;
        foreach (int at in label.Fixups) Patch32(at, label.Position - (at + 4));
        label.Fixups.Clear();
    }

    public void Jcc(Cond c, Label target) { Byte(0x0F); Byte(0x80 | (int)c); Rel32(target); }

    public void Jmp(Label target) { Byte(0xE9); Rel32(target); }

    private void Rel32(Label target)
    {
        int at = _code.Count;
        Int32(0);
        if (target.Position >= 0) Patch32(at, target.Position - (at + 4));
        else target.Fixups.Add(at);
    }

    private void Patch32(int at, int value)
    {
        for (int i = 0; i < 4; i++) _code[at + i] = (byte)(value >> (8 * i));
    }

    // ---------------------------------------------------------------- general-purpose instructions (64-bit operands)

    public void Push(Gpr r) { if ((int)r >= 8) Byte(0x41); Byte(0x50 | ((int)r & 7)); }

    public void Pop(Gpr r) { if ((int)r >= 8) Byte(0x41); Byte(0x58 | ((int)r & 7)); }

    public void Ret() => Byte(0xC3);

    public void Vzeroupper() { Byte(0xC5); Byte(0xF8); Byte(0x77); }

    /// <summary>mov dst, src.</summary>
    public void Mov(Gpr dst, Gpr src) => RegReg(0x89, src, dst);

    /// <summary>mov dst, qword [m].</summary>
    public void Mov(Gpr dst, Mem m) => RegMem([0x8B], (int)dst, m);

    /// <summary>mov dst32, dword [m] (zero-extends into the 64-bit register).</summary>
    public void Mov32(Gpr dst, Mem m) => EncodeLegacyMem(false, [0x8B], (int)dst, m);

    /// <summary>shl dst, imm8.</summary>
    public void Shl(Gpr dst, byte imm) { Rex(true, 0, 0, (int)dst); Byte(0xC1); ModRM(3, 4, (int)dst); Byte(imm); }

    /// <summary>mov qword [m], src.</summary>
    public void Mov(Mem m, Gpr src) => RegMem([0x89], (int)src, m);

    /// <summary>mov dst, imm (sign-extended imm32 when it fits, else the 10-byte imm64 form).</summary>
    public void Mov(Gpr dst, long imm)
    {
        if (imm is >= int.MinValue and <= int.MaxValue)
        {
            Rex(true, 0, 0, (int)dst); Byte(0xC7); ModRM(3, 0, (int)dst); Int32((int)imm);
            return;
        }
        Rex(true, 0, 0, (int)dst); Byte(0xB8 | ((int)dst & 7));
        for (int i = 0; i < 8; i++) Byte((byte)(imm >> (8 * i)));
    }

    public void Lea(Gpr dst, Mem m) => RegMem([0x8D], (int)dst, m);

    public void Add(Gpr dst, Gpr src) => RegReg(0x01, src, dst);
    public void Add(Gpr dst, Mem m) => RegMem([0x03], (int)dst, m);
    public void Sub(Gpr dst, Gpr src) => RegReg(0x29, src, dst);
    public void Cmp(Gpr a, Gpr b) => RegReg(0x39, b, a);
    public void Cmp(Gpr a, Mem m) => RegMem([0x3B], (int)a, m);
    public void Test(Gpr a, Gpr b) => RegReg(0x85, b, a);   // test is symmetric; 85 /r has r/m first
    public void Xor(Gpr dst, Gpr src) => RegReg(0x31, src, dst);

    /// <summary>xor dst32, src32 (zeroes the whole 64-bit register when dst = src).</summary>
    public void Xor32(Gpr dst, Gpr src)
    {
        if ((int)src >= 8 || (int)dst >= 8) Byte(0x40 | (((int)src >> 3) & 1) << 2 | (((int)dst >> 3) & 1));
        Byte(0x31); ModRM(3, (int)src, (int)dst);
    }

    public void Add(Gpr dst, int imm) => AluImm(0, dst, imm);
    public void Sub(Gpr dst, int imm) => AluImm(5, dst, imm);
    public void Cmp(Gpr dst, int imm) => AluImm(7, dst, imm);

    /// <summary>imul dst, src, imm32.</summary>
    public void Imul(Gpr dst, Gpr src, int imm)
    {
        Rex(true, (int)dst, 0, (int)src);
        if (imm is >= -128 and <= 127) { Byte(0x6B); ModRM(3, (int)dst, (int)src); Byte((byte)imm); }
        else { Byte(0x69); ModRM(3, (int)dst, (int)src); Int32(imm); }
    }

    /// <summary>imul dst, src.</summary>
    public void Imul(Gpr dst, Gpr src)
    {
        Rex(true, (int)dst, 0, (int)src); Byte(0x0F); Byte(0xAF); ModRM(3, (int)dst, (int)src);
    }

    /// <summary>imul dst, qword [m].</summary>
    public void Imul(Gpr dst, Mem m) => RegMem([0x0F, 0xAF], (int)dst, m);

    /// <summary>cmovCC dst, src.</summary>
    public void Cmov(Cond c, Gpr dst, Gpr src)
    {
        Rex(true, (int)dst, 0, (int)src); Byte(0x0F); Byte(0x40 | (int)c); ModRM(3, (int)dst, (int)src);
    }

    /// <summary>prefetcht0 [m].</summary>
    public void Prefetcht0(Mem m) { EncodeLegacyMem(false, [0x0F, 0x18], 1, m); }

    /// <summary>prefetcht1 [m] (into L2, not L1).</summary>
    public void Prefetcht1(Mem m) { EncodeLegacyMem(false, [0x0F, 0x18], 2, m); }

    private void AluImm(int ext, Gpr dst, int imm)
    {
        Rex(true, 0, 0, (int)dst);
        if (imm is >= -128 and <= 127) { Byte(0x83); ModRM(3, ext, (int)dst); Byte((byte)imm); }
        else if (dst == Gpr.Rax) { Byte(ext << 3 | 5); Int32(imm); }   // the short "op rax, imm32" form
        else { Byte(0x81); ModRM(3, ext, (int)dst); Int32(imm); }
    }

    // reg-reg forms use the "MR" opcodes (r/m = first operand), as GNU as does, so encodings compare byte for byte.
    private void RegReg(int opcode, Gpr reg, Gpr rm)
    {
        Rex(true, (int)reg, 0, (int)rm); Byte(opcode); ModRM(3, (int)reg, (int)rm);
    }

    private void RegMem(byte[] opcode, int reg, Mem m) => EncodeLegacyMem(true, opcode, reg, m);

    private void EncodeLegacyMem(bool w, byte[] opcode, int reg, Mem m)
    {
        int x = m.Index is { } i ? (int)i : 0;
        int rex = 0x40 | (w ? 8 : 0) | ((reg >> 3) & 1) << 2 | ((x >> 3) & 1) << 1 | (((int)m.Base >> 3) & 1);
        if (rex != 0x40) Byte(rex);
        foreach (byte b in opcode) Byte(b);
        MemOperand(reg, m, 1);
    }

    private void Rex(bool w, int reg, int index, int rm)
    {
        int rex = 0x40 | (w ? 8 : 0) | ((reg >> 3) & 1) << 2 | ((index >> 3) & 1) << 1 | ((rm >> 3) & 1);
        if (rex != 0x40) Byte(rex);
    }

    // ---------------------------------------------------------------- opmask instructions (VEX)

    /// <summary>kmovq k, r64.</summary>
    public void Kmovq(KReg k, Gpr r) => Vex(pp: 3, mmmmm: 1, w: true, l: 0, vvvv: 0, reg: k.Id, rm: (int)r, opcode: 0x92);

    /// <summary>kxnorq k, a, b (all ones when a = b).</summary>
    public void Kxnorq(KReg k, KReg a, KReg b) => Vex(pp: 0, mmmmm: 1, w: true, l: 1, vvvv: a.Id, reg: k.Id, rm: b.Id, opcode: 0x46);

    private void Vex(int pp, int mmmmm, bool w, int l, int vvvv, int reg, int rm, int opcode)
    {
        Byte(0xC4);
        Byte(((~reg >> 3) & 1) << 7 | 1 << 6 | ((~rm >> 3) & 1) << 5 | mmmmm);
        Byte((w ? 0x80 : 0) | ((~vvvv) & 15) << 3 | l << 2 | pp);
        Byte(opcode);
        ModRM(3, reg & 7, rm & 7);
    }

    // ---------------------------------------------------------------- AVX-512 instructions (EVEX)

    // Map: 1 = 0F, 2 = 0F38, 3 = 0F3A. pp: 0 = none, 1 = 66, 2 = F3, 3 = F2.
    private readonly record struct Op(int Map, int Pp, bool W, int Opcode);

    private static readonly Op VMOVDQU8_LOAD = new(1, 3, false, 0x6F), VMOVDQU8_STORE = new(1, 3, false, 0x7F);
    private static readonly Op VMOVDQU32_LOAD = new(1, 2, false, 0x6F), VMOVDQU32_STORE = new(1, 2, false, 0x7F);
    private static readonly Op VMOVUPS_LOAD = new(1, 0, false, 0x10), VMOVUPS_STORE = new(1, 0, false, 0x11);
    private static readonly Op VMOVAPS = new(1, 0, false, 0x28);
    private static readonly Op VPXORD = new(1, 1, false, 0xEF), VPANDD = new(1, 1, false, 0xDB), VPADDD = new(1, 1, false, 0xFE), VPSUBD = new(1, 1, false, 0xFA);
    private static readonly Op VPSRLW_IMM = new(1, 1, false, 0x71), VPSLLD_IMM = new(1, 1, false, 0x72);
    private static readonly Op VPERMB = new(2, 1, false, 0x8D), VPERMD = new(2, 1, false, 0x36), VPERMPS = new(2, 1, false, 0x16);
    private static readonly Op VPDPBUSD = new(2, 1, false, 0x50), VPMULTISHIFTQB = new(2, 1, true, 0x83);
    private static readonly Op VCVTDQ2PS = new(1, 0, false, 0x5B);
    private static readonly Op VFMADD231PS = new(2, 1, false, 0xB8), VFMADD132PS = new(2, 1, false, 0x98);
    private static readonly Op VMULPS = new(1, 0, false, 0x59), VADDPS = new(1, 0, false, 0x58);
    private static readonly Op VADDSS = new(1, 2, false, 0x58), VMOVSS_LOAD = new(1, 2, false, 0x10), VMOVSS_STORE = new(1, 2, false, 0x11);
    private static readonly Op VPMOVZXBD = new(2, 1, false, 0x31);
    private static readonly Op VFIXUPIMMPS = new(3, 1, false, 0x54);
    private static readonly Op VMOVQ_LOAD = new(1, 1, true, 0x6E);
    private static readonly Op VEXTRACTF64X4 = new(3, 1, true, 0x1B), VEXTRACTF32X4 = new(3, 1, false, 0x19);
    private static readonly Op VMOVHLPS = new(1, 0, false, 0x12), VMOVSHDUP = new(1, 2, false, 0x16);
    private static readonly Op VBROADCASTSS = new(2, 1, false, 0x18);

    /// <summary>vmovdqu8 dst{k}{z}, [m] (a masked-off byte is not read, so a masked load never faults past the mask).</summary>
    public void Vmovdqu8(Vec dst, Mem m, KReg k = default, bool zero = false) => EvexMem(VMOVDQU8_LOAD, dst.Id, 0, dst.LengthCode, m, dst.Bits / 8, k, zero);
    public void Vmovdqu8(Mem m, Vec src, KReg k = default) => EvexMem(VMOVDQU8_STORE, src.Id, 0, src.LengthCode, m, src.Bits / 8, k, false);
    public void Vmovdqu32(Vec dst, Mem m, KReg k = default, bool zero = false) => EvexMem(VMOVDQU32_LOAD, dst.Id, 0, dst.LengthCode, m, dst.Bits / 8, k, zero);
    public void Vmovdqu32(Mem m, Vec src, KReg k = default) => EvexMem(VMOVDQU32_STORE, src.Id, 0, src.LengthCode, m, src.Bits / 8, k, false);
    public void Vmovups(Vec dst, Mem m, KReg k = default, bool zero = false) => EvexMem(VMOVUPS_LOAD, dst.Id, 0, dst.LengthCode, m, dst.Bits / 8, k, zero);
    /// <summary>vmovups [m]{k}, src: only the lanes on the mask are written.</summary>
    public void Vmovups(Mem m, Vec src, KReg k = default) => EvexMem(VMOVUPS_STORE, src.Id, 0, src.LengthCode, m, src.Bits / 8, k, false);
    public void Vmovaps(Vec dst, Vec src) => EvexReg(VMOVAPS, dst.Id, 0, dst.LengthCode, src.Id);

    public void Vpxord(Vec dst, Vec a, Vec b) => EvexReg(VPXORD, dst.Id, a.Id, dst.LengthCode, b.Id);
    public void Vpxord(Vec dst, Vec a, Mem m, KReg k = default, bool zero = false) => EvexMem(VPXORD, dst.Id, a.Id, dst.LengthCode, m, dst.Bits / 8, k, zero);
    public void Vpandd(Vec dst, Vec a, Vec b) => EvexReg(VPANDD, dst.Id, a.Id, dst.LengthCode, b.Id);
    public void Vpaddd(Vec dst, Vec a, Vec b) => EvexReg(VPADDD, dst.Id, a.Id, dst.LengthCode, b.Id);

    /// <summary>vpsrlw dst, src, imm8 (per 16-bit lane logical shift).</summary>
    public void Vpsrlw(Vec dst, Vec src, byte imm) { EvexReg(VPSRLW_IMM, 2, dst.Id, dst.LengthCode, src.Id); Byte(imm); }

    /// <summary>vpslld dst, src, imm8.</summary>
    public void Vpslld(Vec dst, Vec src, byte imm) { EvexReg(VPSLLD_IMM, 6, dst.Id, dst.LengthCode, src.Id); Byte(imm); }

    /// <summary>vpermb dst, idx, table: dst[i] = table[idx[i] mod 64] (AVX512_VBMI).</summary>
    public void Vpermb(Vec dst, Vec idx, Vec table) => EvexReg(VPERMB, dst.Id, idx.Id, dst.LengthCode, table.Id);

    /// <summary>vpermd dst, idx, table (dword lanes).</summary>
    public void Vpermd(Vec dst, Vec idx, Vec table) => EvexReg(VPERMD, dst.Id, idx.Id, dst.LengthCode, table.Id);

    /// <summary>vpermps dst, idx, table (float lanes).</summary>
    public void Vpermps(Vec dst, Vec idx, Vec table) => EvexReg(VPERMPS, dst.Id, idx.Id, dst.LengthCode, table.Id);

    /// <summary>vpdpbusd acc, u8, s8: acc.dword[i] += Σ over its 4 bytes of u8·s8 (AVX512_VNNI).</summary>
    public void Vpdpbusd(Vec acc, Vec u8, Vec s8) => EvexReg(VPDPBUSD, acc.Id, u8.Id, acc.LengthCode, s8.Id);
    public void Vpdpbusd(Vec acc, Vec u8, Mem s8) => EvexMem(VPDPBUSD, acc.Id, u8.Id, acc.LengthCode, s8, acc.Bits / 8, default, false);

    /// <summary>vpdpbusd acc, u8, dword [m]{1toN}: the same 4 signed bytes against every lane.</summary>
    public void Vpdpbusd1ToN(Vec acc, Vec u8, Mem s8) => EvexMem(VPDPBUSD, acc.Id, u8.Id, acc.LengthCode, s8, 4, default, false, broadcast: true);

    /// <summary>vpsubd dst, a, dword [m]{1toN}.</summary>
    public void Vpsubd1ToN(Vec dst, Vec a, Mem m) => EvexMem(VPSUBD, dst.Id, a.Id, dst.LengthCode, m, 4, default, false, broadcast: true);

    /// <summary>vpmultishiftqb dst, control, data: byte i of each qword = 8 bits of data's qword from bit control[i] (AVX512_VBMI).</summary>
    public void Vpmultishiftqb(Vec dst, Vec control, Vec data) => EvexReg(VPMULTISHIFTQB, dst.Id, control.Id, dst.LengthCode, data.Id);

    public void Vcvtdq2ps(Vec dst, Vec src) => EvexReg(VCVTDQ2PS, dst.Id, 0, dst.LengthCode, src.Id);

    /// <summary>vfmadd231ps acc, a, b: acc = a·b + acc.</summary>
    public void Vfmadd231ps(Vec acc, Vec a, Vec b) => EvexReg(VFMADD231PS, acc.Id, a.Id, acc.LengthCode, b.Id);
    public void Vfmadd231ps(Vec acc, Vec a, Mem b) => EvexMem(VFMADD231PS, acc.Id, a.Id, acc.LengthCode, b, acc.Bits / 8, default, false);

    /// <summary>vfmadd132ps acc, addend, dword [m]{1toN}: acc = acc · m + addend.</summary>
    public void Vfmadd132ps1ToN(Vec acc, Vec addend, Mem m) => EvexMem(VFMADD132PS, acc.Id, addend.Id, acc.LengthCode, m, 4, default, false, broadcast: true);

    public void Vmulps(Vec dst, Vec a, Vec b) => EvexReg(VMULPS, dst.Id, a.Id, dst.LengthCode, b.Id);
    public void Vmulps(Vec dst, Vec a, Mem b) => EvexMem(VMULPS, dst.Id, a.Id, dst.LengthCode, b, dst.Bits / 8, default, false);

    /// <summary>vmulps dst, a, dword [m]{1toN}.</summary>
    public void Vmulps1ToN(Vec dst, Vec a, Mem b) => EvexMem(VMULPS, dst.Id, a.Id, dst.LengthCode, b, 4, default, false, broadcast: true);

    /// <summary>vaddps dst, a, [m] (optionally masked, zeroing: lanes off the mask are not read).</summary>
    public void Vaddps(Vec dst, Vec a, Mem b, KReg k = default, bool zero = false) => EvexMem(VADDPS, dst.Id, a.Id, dst.LengthCode, b, dst.Bits / 8, k, zero);
    public void Vaddps(Vec dst, Vec a, Vec b) => EvexReg(VADDPS, dst.Id, a.Id, dst.LengthCode, b.Id);

    /// <summary>vaddss dst, a, b (low float; upper lanes from a).</summary>
    public void Vaddss(Vec dst, Vec a, Vec b) => EvexReg(VADDSS, dst.Id, a.Id, 0, b.Id);
    public void Vaddss(Vec dst, Vec a, Mem b) => EvexMem(VADDSS, dst.Id, a.Id, 0, b, 4, default, false);
    public void Vmovss(Vec dst, Mem m) => EvexMem(VMOVSS_LOAD, dst.Id, 0, 0, m, 4, default, false);
    public void Vmovss(Mem m, Vec src) => EvexMem(VMOVSS_STORE, src.Id, 0, 0, m, 4, default, false);

    /// <summary>vpmovzxbd dst, src: the low Bits/32 bytes of src zero-extended to dwords.</summary>
    public void Vpmovzxbd(Vec dst, Vec src) => EvexReg(VPMOVZXBD, dst.Id, 0, dst.LengthCode, src.Id);
    public void Vpmovzxbd(Vec dst, Mem m) => EvexMem(VPMOVZXBD, dst.Id, 0, dst.LengthCode, m, dst.Bits / 32, default, false);

    /// <summary>vfixupimmps dst, src, table, imm8: special values of src fixed up by the int32 response table.</summary>
    public void Vfixupimmps(Vec dst, Vec src, Vec table, byte imm) { EvexReg(VFIXUPIMMPS, dst.Id, src.Id, dst.LengthCode, table.Id); Byte(imm); }

    /// <summary>vmovq xmm, qword [m] (upper bits zeroed).</summary>
    public void Vmovq(Vec dst, Mem m) => EvexMem(VMOVQ_LOAD, dst.Id, 0, 0, m, 8, default, false);

    /// <summary>vextractf64x4 ymm, zmm, imm8.</summary>
    public void Vextractf64x4(Vec dst, Vec src, byte imm) { EvexReg(VEXTRACTF64X4, src.Id, 0, 2, dst.Id); Byte(imm); }

    /// <summary>vextractf32x4 xmm, ymm/zmm, imm8.</summary>
    public void Vextractf32x4(Vec dst, Vec src, byte imm) { EvexReg(VEXTRACTF32X4, src.Id, 0, src.LengthCode, dst.Id); Byte(imm); }

    /// <summary>vmovhlps dst, a, b: dst.low64 = b.high64, dst.high64 = a.high64.</summary>
    public void Vmovhlps(Vec dst, Vec a, Vec b) => EvexReg(VMOVHLPS, dst.Id, a.Id, 0, b.Id);

    public void Vmovshdup(Vec dst, Vec src) => EvexReg(VMOVSHDUP, dst.Id, 0, dst.LengthCode, src.Id);

    /// <summary>vbroadcastss dst, dword [m].</summary>
    public void Vbroadcastss(Vec dst, Mem m) => EvexMem(VBROADCASTSS, dst.Id, 0, dst.LengthCode, m, 4, default, false);

    private void EvexReg(Op op, int reg, int vvvv, int l, int rm)
    {
        EvexPrefix(op, reg, vvvv, l, xBit: (rm >> 4) & 1, bBit: (rm >> 3) & 1, k: 0, zero: false, broadcast: false);
        Byte(op.Opcode);
        ModRM(3, reg & 7, rm & 7);
    }

    private void EvexMem(Op op, int reg, int vvvv, int l, Mem m, int n, KReg k, bool zero, bool broadcast = false)
    {
        int index = m.Index is { } i ? (int)i : 0;
        EvexPrefix(op, reg, vvvv, l, xBit: (index >> 3) & 1, bBit: ((int)m.Base >> 3) & 1, k: k.Id, zero, broadcast);
        Byte(op.Opcode);
        MemOperand(reg & 7, m, n);
    }

    private void EvexPrefix(Op op, int reg, int vvvv, int l, int xBit, int bBit, int k, bool zero, bool broadcast)
    {
        if (zero && k == 0) throw new ArgumentException("zeroing needs a write mask other than k0");
        Byte(0x62);
        Byte(((~reg >> 3) & 1) << 7 | ((~xBit) & 1) << 6 | ((~bBit) & 1) << 5 | ((~reg >> 4) & 1) << 4 | op.Map);
        Byte((op.W ? 0x80 : 0) | ((~vvvv) & 15) << 3 | 0x04 | op.Pp);
        Byte((zero ? 0x80 : 0) | l << 5 | (broadcast ? 0x10 : 0) | ((~vvvv >> 4) & 1) << 3 | k);
    }

    // ---------------------------------------------------------------- ModRM / SIB / displacement

    private void ModRM(int mod, int reg, int rm) => Byte(mod << 6 | (reg & 7) << 3 | (rm & 7));

    private void MemOperand(int reg, Mem m, int n)
    {
        if (m.Index == Gpr.Rsp) throw new ArgumentException("rsp cannot be an index register");
        int b = (int)m.Base & 7;
        bool sib = m.Index != null || b == 4;   // rsp/r12 as base need a SIB byte
        // mod: 00 = no displacement (not for rbp/r13, whose 00 form means "no base"), 01 = disp8·N, 10 = disp32.
        int mod, disp8 = 0;
        if (m.Disp == 0 && b != 5) mod = 0;
        else if (m.Disp % n == 0 && m.Disp / n is >= -128 and <= 127) { mod = 1; disp8 = m.Disp / n; }
        else mod = 2;
        ModRM(mod, reg, sib ? 4 : b);
        if (sib)
        {
            int scale = m.Scale switch { 1 => 0, 2 => 1, 4 => 2, 8 => 3, _ => throw new ArgumentException($"scale {m.Scale}") };
            int idx = m.Index is { } i ? (int)i & 7 : 4;   // 100 with REX.X = 0: no index
            Byte(scale << 6 | idx << 3 | b);
        }
        if (mod == 1) Byte((byte)(sbyte)disp8);
        else if (mod == 2) Int32(m.Disp);
    }

    private void Byte(int b) => _code.Add((byte)b);

    private void Int32(int v)
    {
        for (int i = 0; i < 4; i++) _code.Add((byte)(v >> (8 * i)));
    }
}
