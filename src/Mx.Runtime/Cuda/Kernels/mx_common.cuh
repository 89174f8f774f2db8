// Mx.Onnx CUDA kernels: shared device helpers. Compiled by NVRTC at run time, no CUDA headers needed.
// Compile-time parameters (set by the host with -D): MX_BITS (element bits: 4, 6 or 8), MX_BS (block size:
// 8, 16, 32 or 64), MX_ACT (activation type: 0 fp32, 1 fp16, 2 bf16).
// Packed layout (docs/packed-layout.md): N rows of K elements, LSB-first bit stream per row, every block of MX_BS
// elements starts on a byte; E8M0 scales [N, nb]. Element codes are decoded through a table the host uploads
// (MxElementDecoding.Table, the CPU reference), so decoding is bit-exact by construction.
#pragma once

#ifndef MX_BITS
#error "MX_BITS must be defined (4, 6 or 8)"
#endif
#ifndef MX_BS
#error "MX_BS must be defined (8, 16, 32 or 64)"
#endif
#ifndef MX_ACT
#error "MX_ACT must be defined (0 fp32, 1 fp16, 2 bf16)"
#endif
#if MX_BITS != 4 && MX_BITS != 6 && MX_BITS != 8
#error "MX_BITS must be 4, 6 or 8"
#endif
#if MX_BS != 8 && MX_BS != 16 && MX_BS != 32 && MX_BS != 64
#error "MX_BS must be 8, 16, 32 or 64"
#endif

#define MX_BLOCK_BYTES (MX_BS * MX_BITS / 8)
#define MX_CODE_MASK ((1u << MX_BITS) - 1u)
#define MX_LUT_SIZE (1 << MX_BITS)

// Greatest power of two (≤ 16) dividing n: the widest aligned load for a stride of n bytes.
#define MX_POW2_ALIGN(n) (((n) % 16 == 0) ? 16 : ((n) % 8 == 0) ? 8 : ((n) % 4 == 0) ? 4 : ((n) % 2 == 0) ? 2 : 1)

// E8M0 scale byte → float: 2^(s − 127) exactly (s = 0 gives the subnormal 2^−127), 0xFF → NaN.
__device__ __forceinline__ float mx_e8m0_to_float(unsigned int s)
{
    unsigned int bits = s == 0xFFu ? 0x7FC00000u : (s == 0u ? 0x00400000u : (s << 23));
    return __uint_as_float(bits);
}

__device__ __forceinline__ float mx_half_to_float(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ float mx_bf16_to_float(unsigned short b)
{
    return __uint_as_float(((unsigned int)b) << 16);
}

// Two floats → bf16x2 (round to nearest even); `lo` goes to the low half (the lower-indexed element).
__device__ __forceinline__ unsigned int mx_pack_bf16x2(float lo, float hi)
{
    unsigned int d;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
}

// bf16 bits of a float (round to nearest even) and the float value of those bits.
__device__ __forceinline__ float mx_round_bf16(float x)
{
    unsigned int d = mx_pack_bf16x2(x, 0.0f);
    return __uint_as_float(d << 16);
}

#if MX_ACT == 0
typedef float mx_act_t;
__device__ __forceinline__ float mx_act_load(const mx_act_t* p, long long i) { return __ldg(p + i); }
#elif MX_ACT == 1
typedef unsigned short mx_act_t;
__device__ __forceinline__ float mx_act_load(const mx_act_t* p, long long i) { return mx_half_to_float(__ldg(p + i)); }
#elif MX_ACT == 2
typedef unsigned short mx_act_t;
__device__ __forceinline__ float mx_act_load(const mx_act_t* p, long long i) { return mx_bf16_to_float(__ldg(p + i)); }
#else
#error "MX_ACT must be 0, 1 or 2"
#endif

// Loads NBYTES bytes at p (aligned to ALIGN bytes, a power of two) into little-endian 32-bit words w[].
// w must hold NBYTES / 4 + 2 words; the words past the data are zero (so bit extraction may read one word ahead).
template <int NBYTES, int ALIGN>
__device__ __forceinline__ void mx_load_bytes(const unsigned char* __restrict__ p, unsigned int* w)
{
#pragma unroll
    for (int i = 0; i < NBYTES / 4 + 2; ++i) w[i] = 0u;
    if (ALIGN >= 16 && NBYTES % 16 == 0) {
#pragma unroll
        for (int i = 0; i < NBYTES / 16; ++i) {
            uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + i);
            w[4 * i] = v.x; w[4 * i + 1] = v.y; w[4 * i + 2] = v.z; w[4 * i + 3] = v.w;
        }
    } else if (ALIGN >= 8 && NBYTES % 8 == 0) {
#pragma unroll
        for (int i = 0; i < NBYTES / 8; ++i) {
            uint2 v = __ldg(reinterpret_cast<const uint2*>(p) + i);
            w[2 * i] = v.x; w[2 * i + 1] = v.y;
        }
    } else if (ALIGN >= 4 && NBYTES % 4 == 0) {
#pragma unroll
        for (int i = 0; i < NBYTES / 4; ++i) w[i] = __ldg(reinterpret_cast<const unsigned int*>(p) + i);
    } else if (ALIGN >= 2 && NBYTES % 2 == 0) {
#pragma unroll
        for (int i = 0; i < NBYTES / 2; ++i)
            w[i / 2] |= ((unsigned int)__ldg(reinterpret_cast<const unsigned short*>(p) + i)) << (16 * (i % 2));
    } else {
#pragma unroll
        for (int i = 0; i < NBYTES; ++i) w[i / 4] |= ((unsigned int)__ldg(p + i)) << (8 * (i % 4));
    }
}

// Code of element t of a bit stream held in w[] (LSB first, MX_BITS bits per element). t is a compile-time
// constant after unrolling, so the word index and shifts fold away.
__device__ __forceinline__ unsigned int mx_code(const unsigned int* w, int t)
{
    int p = t * MX_BITS;
    int q = p >> 5, s = p & 31;
    unsigned int v = w[q] >> s;
    if (s + MX_BITS > 32) v |= w[q + 1] << (32 - s);
    return v & MX_CODE_MASK;
}
