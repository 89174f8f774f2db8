using Mx.Runtime.Kernels.Jit;
using static Mx.Runtime.Kernels.Jit.Regs;

namespace Mx.Runtime.Tests.Kernels.Jit;

/// <summary>
/// The assembler's encodings against GNU as (binutils 2.40, <c>as --64</c>, Intel syntax): every instruction form the
/// generated kernels use, with high (8–15, 16–31) registers (vector forms with <c>{evex}</c>, since as prefers VEX where it can), masks, zeroing, SIB, rbp/r13/rsp/r12 bases and both
/// compressed (disp8·N) and 32-bit displacements. The expected bytes were produced by assembling each line's text;
/// <see cref="TableAgreesWithGnuAsWhenInstalled"/> re-assembles them where <c>as</c> is on PATH.
/// </summary>
public class X86AssemblerTests
{
    internal static readonly (string Text, Action<X86Assembler> Emit, string Hex)[] Cases =
    [
        ("push rbx", a => a.Push(Gpr.Rbx), "53"),
        ("push r15", a => a.Push(Gpr.R15), "4157"),
        ("pop r12", a => a.Pop(Gpr.R12), "415c"),
        ("ret", a => a.Ret(), "c3"),
        ("vzeroupper", a => a.Vzeroupper(), "c5f877"),
        ("mov rax, rdi", a => a.Mov(Gpr.Rax, Gpr.Rdi), "4889f8"),
        ("mov r9, r13", a => a.Mov(Gpr.R9, Gpr.R13), "4d89e9"),
        ("mov rbx, qword ptr [rdi+56]", a => a.Mov(Gpr.Rbx, new Mem(Gpr.Rdi, 56)), "488b5f38"),
        ("mov r10, qword ptr [r13]", a => a.Mov(Gpr.R10, new Mem(Gpr.R13)), "4d8b5500"),
        ("mov rcx, qword ptr [rsp+8]", a => a.Mov(Gpr.Rcx, new Mem(Gpr.Rsp, 8)), "488b4c2408"),
        ("mov r8, qword ptr [r12+1000]", a => a.Mov(Gpr.R8, new Mem(Gpr.R12, 1000)), "4d8b8424e8030000"),
        ("mov qword ptr [rbp-8], rsi", a => a.Mov(new Mem(Gpr.Rbp, -8), Gpr.Rsi), "488975f8"),
        ("mov rax, 123456", a => a.Mov(Gpr.Rax, 123456L), "48c7c040e20100"),
        ("mov r11, -5", a => a.Mov(Gpr.R11, -5L), "49c7c3fbffffff"),
        ("movabs rdx, 0x123456789abc", a => a.Mov(Gpr.Rdx, 0x123456789abcL), "48babc9a785634120000"),
        ("movabs r14, 0xffffffffffff", a => a.Mov(Gpr.R14, 0xffffffffffffL), "49beffffffffffff0000"),
        ("lea rax, [rbx+rcx*4+16]", a => a.Lea(Gpr.Rax, new Mem(Gpr.Rbx, 16, Gpr.Rcx, 4)), "488d448b10"),
        ("lea r8, [r13+r9*8]", a => a.Lea(Gpr.R8, new Mem(Gpr.R13, 0, Gpr.R9, 8)), "4f8d44cd00"),
        ("add rax, rbx", a => a.Add(Gpr.Rax, Gpr.Rbx), "4801d8"),
        ("add r9, qword ptr [rdi+40]", a => a.Add(Gpr.R9, new Mem(Gpr.Rdi, 40)), "4c034f28"),
        ("add rcx, 512", a => a.Add(Gpr.Rcx, 512), "4881c100020000"),
        ("add r15, 4", a => a.Add(Gpr.R15, 4), "4983c704"),
        ("sub rdx, r10", a => a.Sub(Gpr.Rdx, Gpr.R10), "4c29d2"),
        ("sub rsp, 64", a => a.Sub(Gpr.Rsp, 64), "4883ec40"),
        ("cmp rax, 4096", a => a.Cmp(Gpr.Rax, 4096), "483d00100000"),
        ("cmp rbx, qword ptr [rdi+64]", a => a.Cmp(Gpr.Rbx, new Mem(Gpr.Rdi, 64)), "483b5f40"),
        ("cmp r8, r9", a => a.Cmp(Gpr.R8, Gpr.R9), "4d39c8"),
        ("test rax, rax", a => a.Test(Gpr.Rax, Gpr.Rax), "4885c0"),
        ("test r12, rdx", a => a.Test(Gpr.R12, Gpr.Rdx), "4985d4"),
        ("xor esi, esi", a => a.Xor32(Gpr.Rsi, Gpr.Rsi), "31f6"),
        ("imul rdx, rcx, 2176", a => a.Imul(Gpr.Rdx, Gpr.Rcx, 2176), "4869d180080000"),
        ("imul r13, r14, 17", a => a.Imul(Gpr.R13, Gpr.R14, 17), "4d6bee11"),
        ("imul rax, rsi", a => a.Imul(Gpr.Rax, Gpr.Rsi), "480fafc6"),
        ("imul rax, qword ptr [rdi+8]", a => a.Imul(Gpr.Rax, new Mem(Gpr.Rdi, 8)), "480faf4708"),
        ("cmovg rcx, rax", a => a.Cmov(Cond.Greater, Gpr.Rcx, Gpr.Rax), "480f4fc8"),
        ("cmovl r11, r8", a => a.Cmov(Cond.Less, Gpr.R11, Gpr.R8), "4d0f4cd8"),
        ("prefetcht0 [r9+1024]", a => a.Prefetcht0(new Mem(Gpr.R9, 1024)), "410f188900040000"),
        ("prefetcht1 [r9+1024]", a => a.Prefetcht1(new Mem(Gpr.R9, 1024)), "410f189100040000"),
        ("prefetcht1 [rax+rcx*1+8704]", a => a.Prefetcht1(new Mem(Gpr.Rax, 8704, Gpr.Rcx)), "0f18940800220000"),
        ("kmovq k1, rax", a => a.Kmovq(K(1), Gpr.Rax), "c4e1fb92c8"),
        ("kmovq k7, r10", a => a.Kmovq(K(7), Gpr.R10), "c4c1fb92fa"),
        ("kxnorq k7, k7, k7", a => a.Kxnorq(K(7), K(7), K(7)), "c4e1c446ff"),
        ("{evex} vmovdqu8 zmm6, [r8+rax+64]", a => a.Vmovdqu8(Z(6), new Mem(Gpr.R8, 64, Gpr.Rax)), "62d17f486f740001"),
        ("{evex} vmovdqu8 zmm17{k3}{z}, [r11+rax+192]", a => a.Vmovdqu8(Z(17), new Mem(Gpr.R11, 192, Gpr.Rax), K(3), zero: true), "62c17fcb6f4c0303"),
        ("{evex} vmovdqu8 xmm4{k2}{z}, [r12+rdx]", a => a.Vmovdqu8(X(4), new Mem(Gpr.R12, 0, Gpr.Rdx), K(2), zero: true), "62d17f8a6f2414"),
        ("{evex} vmovdqu8 [rcx+100], zmm9", a => a.Vmovdqu8(new Mem(Gpr.Rcx, 100), Z(9)), "62717f487f8964000000"),
        ("{evex} vmovdqu32 zmm31, [rdi+128]", a => a.Vmovdqu32(Z(31), new Mem(Gpr.Rdi, 128)), "62617e486f7f02"),
        ("{evex} vmovups zmm20, [rsi+64]", a => a.Vmovups(Z(20), new Mem(Gpr.Rsi, 64)), "62e17c48106601"),
        ("{evex} vmovups [rbp], zmm3", a => a.Vmovups(new Mem(Gpr.Rbp), Z(3)), "62f17c48115d00"),
        ("{evex} vmovaps zmm5, zmm30", a => a.Vmovaps(Z(5), Z(30)), "62917c4828ee"),
        ("{evex} vpxord zmm8, zmm8, zmm8", a => a.Vpxord(Z(8), Z(8), Z(8)), "62513d48efc0"),
        ("{evex} vpxord zmm22, zmm29, zmm1", a => a.Vpxord(Z(22), Z(29), Z(1)), "62e11540eff1"),
        ("{evex} vpxord zmm6{k1}{z}, zmm24, [r9+rax+448]", a => a.Vpxord(Z(6), Z(24), new Mem(Gpr.R9, 448, Gpr.Rax), K(1), zero: true), "62d13dc1ef740107"),
        ("{evex} vpandd zmm1, zmm2, zmm3", a => a.Vpandd(Z(1), Z(2), Z(3)), "62f16d48dbcb"),
        ("{evex} vpaddd zmm16, zmm17, zmm18", a => a.Vpaddd(Z(16), Z(17), Z(18)), "62a17540fec2"),
        ("{evex} vpsrlw zmm7, zmm6, 4", a => a.Vpsrlw(Z(7), Z(6), 4), "62f1454871d604"),
        ("{evex} vpsrlw zmm21, zmm19, 4", a => a.Vpsrlw(Z(21), Z(19), 4), "62b1554071d304"),
        ("{evex} vpslld zmm4, zmm4, 23", a => a.Vpslld(Z(4), Z(4), 23), "62f15d4872f417"),
        ("{evex} vpslld zmm26, zmm18, 23", a => a.Vpslld(Z(26), Z(18), 23), "62b12d4072f217"),
        ("{evex} vpermb zmm6, zmm6, zmm31", a => a.Vpermb(Z(6), Z(6), Z(31)), "62924d488df7"),
        ("{evex} vpermb zmm17, zmm18, zmm30", a => a.Vpermb(Z(17), Z(18), Z(30)), "62826d408dce"),
        ("{evex} vpermd zmm4, zmm25, zmm4", a => a.Vpermd(Z(4), Z(25), Z(4)), "62f2354036e4"),
        ("{evex} vpermps zmm9, zmm27, zmm12", a => a.Vpermps(Z(9), Z(27), Z(12)), "6252254016cc"),
        ("{evex} vpermps zmm19, zmm28, zmm13", a => a.Vpermps(Z(19), Z(28), Z(13)), "62c21d4016dd"),
        ("{evex} vpdpbusd zmm8, zmm6, [rcx+64]", a => a.Vpdpbusd(Z(8), Z(6), new Mem(Gpr.Rcx, 64)), "62724d48504101"),
        ("{evex} vpdpbusd zmm24, zmm17, [rcx+8192]", a => a.Vpdpbusd(Z(24), Z(17), new Mem(Gpr.Rcx, 8192)), "62627540508100200000"),
        ("{evex} vpdpbusd zmm2, zmm3, zmm4", a => a.Vpdpbusd(Z(2), Z(3), Z(4)), "62f2654850d4"),
        ("{evex} vpdpbusd ymm2, ymm3, ymm20", a => a.Vpdpbusd(Y(2), Y(3), Y(20)), "62b2652850d4"),
        ("{evex} vcvtdq2ps zmm8, zmm8", a => a.Vcvtdq2ps(Z(8), Z(8)), "62517c485bc0"),
        ("{evex} vcvtdq2ps zmm23, zmm16", a => a.Vcvtdq2ps(Z(23), Z(16)), "62a17c485bf8"),
        ("{evex} vfmadd231ps zmm0, zmm8, zmm9", a => a.Vfmadd231ps(Z(0), Z(8), Z(9)), "62d23d48b8c1"),
        ("{evex} vfmadd231ps zmm3, zmm15, [rbp+64]", a => a.Vfmadd231ps(Z(3), Z(15), new Mem(Gpr.Rbp, 64)), "62f20548b85d01"),
        ("{evex} vfmadd231ps zmm19, zmm20, zmm21", a => a.Vfmadd231ps(Z(19), Z(20), Z(21)), "62a25d40b8dd"),
        ("{evex} vmulps zmm12, zmm12, [rbp+512]", a => a.Vmulps(Z(12), Z(12), new Mem(Gpr.Rbp, 512)), "62711c48596508"),
        ("{evex} vmulps zmm12, zmm12, [rbp+10000]", a => a.Vmulps(Z(12), Z(12), new Mem(Gpr.Rbp, 10000)), "62711c4859a510270000"),
        ("{evex} vmulps zmm1, zmm2, zmm3", a => a.Vmulps(Z(1), Z(2), Z(3)), "62f16c4859cb"),
        ("{evex} vaddps ymm0, ymm0, ymm1", a => a.Vaddps(Y(0), Y(0), Y(1)), "62f17c2858c1"),
        ("{evex} vaddps xmm16, xmm16, xmm17", a => a.Vaddps(X(16), X(16), X(17)), "62a17c0058c1"),
        ("{evex} vaddss xmm0, xmm0, xmm1", a => a.Vaddss(X(0), X(0), X(1)), "62f17e0858c1"),
        ("{evex} vaddss xmm0, xmm0, dword ptr [r13+rbx*4+12]", a => a.Vaddss(X(0), X(0), new Mem(Gpr.R13, 12, Gpr.Rbx, 4)), "62d17e0858449d03"),
        ("{evex} vmovss xmm2, dword ptr [rax+8]", a => a.Vmovss(X(2), new Mem(Gpr.Rax, 8)), "62f17e08105002"),
        ("{evex} vmovss dword ptr [r10+rcx*4], xmm0", a => a.Vmovss(new Mem(Gpr.R10, 0, Gpr.Rcx, 4), X(0)), "62d17e0811048a"),
        ("{evex} vpmovzxbd zmm4, xmmword ptr [r12+rdx]", a => a.Vpmovzxbd(Z(4), new Mem(Gpr.R12, 0, Gpr.Rdx)), "62d27d48312414"),
        ("{evex} vpmovzxbd zmm4, xmmword ptr [r12+rdx+16]", a => a.Vpmovzxbd(Z(4), new Mem(Gpr.R12, 16, Gpr.Rdx)), "62d27d4831641401"),
        ("{evex} vpmovzxbd zmm20, xmm4", a => a.Vpmovzxbd(Z(20), X(4)), "62e27d4831e4"),
        ("{evex} vfixupimmps zmm5, zmm4, zmm26, 0", a => a.Vfixupimmps(Z(5), Z(4), Z(26), 0), "62935d4854ea00"),
        ("{evex} vmovq xmm4, qword ptr [r15+rdx]", a => a.Vmovq(X(4), new Mem(Gpr.R15, 0, Gpr.Rdx)), "62d1fd086e2417"),
        ("{evex} vmovq xmm20, qword ptr [r15+rdx+8]", a => a.Vmovq(X(20), new Mem(Gpr.R15, 8, Gpr.Rdx)), "62c1fd086e641701"),
        ("{evex} vextractf64x4 ymm16, zmm0, 1", a => a.Vextractf64x4(Y(16), Z(0), 1), "62b3fd481bc001"),
        ("{evex} vextractf32x4 xmm16, ymm0, 1", a => a.Vextractf32x4(X(16), Y(0), 1), "62b37d2819c001"),
        ("{evex} vmovhlps xmm16, xmm0, xmm0", a => a.Vmovhlps(X(16), X(0), X(0)), "62e17c0812c0"),
        ("{evex} vmovshdup xmm16, xmm0", a => a.Vmovshdup(X(16), X(0)), "62e17e0816c0"),
        ("{evex} vbroadcastss zmm3, dword ptr [rdi+12]", a => a.Vbroadcastss(Z(3), new Mem(Gpr.Rdi, 12)), "62f27d48185f03"),
        ("{evex} vpmultishiftqb zmm6, zmm25, zmm6", a => a.Vpmultishiftqb(Z(6), Z(25), Z(6)), "62f2b54083f6"),
        ("{evex} vpmultishiftqb zmm17, zmm2, zmm30", a => a.Vpmultishiftqb(Z(17), Z(2), Z(30)), "6282ed4883ce"),
        ("mov eax, dword ptr [r11+rcx*4]", a => a.Mov32(Gpr.Rax, new Mem(Gpr.R11, 0, Gpr.Rcx, 4)), "418b048b"),
        ("mov r9d, dword ptr [rdi+16]", a => a.Mov32(Gpr.R9, new Mem(Gpr.Rdi, 16)), "448b4f10"),
        ("shl rax, 5", a => a.Shl(Gpr.Rax, 5), "48c1e005"),
        ("shl r11, 3", a => a.Shl(Gpr.R11, 3), "49c1e303"),
        ("{evex} vpdpbusd zmm1, zmm2, dword ptr [r14+rax+8]{1to16}", a => a.Vpdpbusd1ToN(Z(1), Z(2), new Mem(Gpr.R14, 8, Gpr.Rax)), "62d26d58504c0602"),
        ("{evex} vpdpbusd zmm17, zmm3, dword ptr [r14+rax+1000]{1to16}", a => a.Vpdpbusd1ToN(Z(17), Z(3), new Mem(Gpr.R14, 1000, Gpr.Rax)), "62c26558508c06e8030000"),
        ("{evex} vpsubd zmm1, zmm1, dword ptr [rdx+r11*4]{1to16}", a => a.Vpsubd1ToN(Z(1), Z(1), new Mem(Gpr.Rdx, 0, Gpr.R11, 4)), "62b17558fa0c9a"),
        ("{evex} vmulps zmm5, zmm5, dword ptr [rcx+r11*4]{1to16}", a => a.Vmulps1ToN(Z(5), Z(5), new Mem(Gpr.Rcx, 0, Gpr.R11, 4)), "62b15458592c99"),
        ("{evex} vaddps zmm0, zmm0, zmmword ptr [rbp+64]", a => a.Vaddps(Z(0), Z(0), new Mem(Gpr.Rbp, 64)), "62f17c48584501"),
        ("{evex} vaddps zmm0{k1}{z}, zmm0, zmmword ptr [rax+rbx*4]", a => a.Vaddps(Z(0), Z(0), new Mem(Gpr.Rax, 0, Gpr.Rbx, 4), K(1), zero: true), "62f17cc9580498"),
        ("{evex} vmovups zmmword ptr [rax+rbx*4]{k1}, zmm0", a => a.Vmovups(new Mem(Gpr.Rax, 0, Gpr.Rbx, 4), Z(0), K(1)), "62f17c49110498"),
        ("{evex} vmovups zmm6{k2}{z}, zmmword ptr [r9+128]", a => a.Vmovups(Z(6), new Mem(Gpr.R9, 128), K(2), zero: true), "62d17cca107102"),
        ("{evex} vfmadd132ps zmm8, zmm25, dword ptr [r9+rdx+4100]{1to16}", a => a.Vfmadd132ps1ToN(Z(8), Z(25), new Mem(Gpr.R9, 4100, Gpr.Rdx)), "6252355098841104100000"),
        ("{evex} vbroadcastss zmm25, dword ptr [r15+rdx+4096]", a => a.Vbroadcastss(Z(25), new Mem(Gpr.R15, 4096, Gpr.Rdx)), "62427d48188c1700100000"),
    ];

    public static IEnumerable<TestCaseData> All() => Cases.Select((c, i) => new TestCaseData(i).SetName($"Encodes {c.Text}"));

    [TestCaseSource(nameof(All))]
    public void EncodesLikeGnuAs(int i)
    {
        var a = new X86Assembler();
        Cases[i].Emit(a);
        Assert.That(Convert.ToHexStringLower(a.ToArray()), Is.EqualTo(Cases[i].Hex), Cases[i].Text);
    }

    [Test]
    public void TableAgreesWithGnuAsWhenInstalled()
    {
        string? gas = AssemblerOnPath.Find("as"), objcopy = AssemblerOnPath.Find("objcopy");
        if (gas == null || objcopy == null) Assert.Ignore("GNU as/objcopy not on PATH; the embedded table is checked by EncodesLikeGnuAs");
        string dir = Directory.CreateTempSubdirectory("mx-gas-").FullName;
        try
        {
            foreach (var (text, _, hex) in Cases)
                Assert.That(AssemblerOnPath.Assemble(gas!, objcopy!, dir, text), Is.EqualTo(hex), text);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Test]
    public void ForwardAndBackwardBranchesLandOnTheirLabels()
    {
        var a = new X86Assembler();
        var top = new Label();
        var end = new Label();
        a.Bind(top);                       // 0
        a.Cmp(Gpr.Rax, 5);                 // 0: 48 83 f8 05
        a.Jcc(Cond.GreaterOrEqual, end);   // 4: 0f 8d rel32 → end
        a.Add(Gpr.Rax, 1);                 // 10: 48 83 c0 01
        a.Jmp(top);                        // 14: e9 rel32 → 0
        a.Bind(end);                       // 19
        a.Ret();
        byte[] code = a.ToArray();
        Assert.That(BitConverter.ToInt32(code, 6), Is.EqualTo(19 - 10), "forward jcc");
        Assert.That(BitConverter.ToInt32(code, 15), Is.EqualTo(0 - 19), "backward jmp");
    }

    [Test]
    public void ZeroingWithoutAMaskIsRefused()
    {
        var a = new X86Assembler();
        Assert.Throws<ArgumentException>(() => a.Vmovdqu8(Z(1), new Mem(Gpr.Rax), K(0), zero: true));
    }
}
