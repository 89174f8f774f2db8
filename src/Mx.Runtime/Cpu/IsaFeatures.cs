namespace Mx.Runtime.Cpu;

/// <summary>
/// The instruction-set features that kernel dispatch distinguishes. The names used in <c>MX_DISABLE_ISA</c>, in
/// <c>mx info</c> and in benchmark output are the lower-case member names (<see cref="CpuFeatures.Format"/>).
/// </summary>
[Flags]
public enum IsaFeatures
{
    /// <summary>No SIMD feature: the plain scalar reference kernels (the .NET runtime may still use SSE/Vector128).</summary>
    None = 0,

    /// <summary>AVX2 (256-bit integer and float vectors). Every vector kernel path needs it.</summary>
    Avx2 = 1 << 0,

    /// <summary>FMA3 fused multiply-add (paired with AVX2 by every vector kernel).</summary>
    Fma = 1 << 1,

    /// <summary>AVX-512 Foundation with BW, DQ and VL (512-bit vectors, byte/word ops, 128/256-bit EVEX forms).</summary>
    Avx512 = 1 << 2,

    /// <summary>AVX512_VBMI (vpermb, vpermt2b): the 4-bit MX×MX and 64-entry byte-table kernels.</summary>
    Avx512Vbmi = 1 << 3,

    /// <summary>AVX512_VNNI (EVEX vpdpbusd on zmm/ymm/xmm): the integer MX×MX dot products on AVX-512 machines.</summary>
    Avx512Vnni = 1 << 4,

    /// <summary>AVX-VNNI (the VEX-encoded 256-bit vpdpbusd of Intel client cores and AMD Zen 5).</summary>
    AvxVnni = 1 << 5,
}
