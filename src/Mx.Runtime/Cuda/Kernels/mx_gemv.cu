// Mx.Onnx CUDA kernel: weight-only packed-MX GEMV for small M (bandwidth-bound).
// Y[m, n] = alpha · Σ_k A[m, k] · W[k, n] + beta · bias[n], W packed as N rows of K (docs/packed-layout.md).
// One warp per output column n; lane ℓ takes blocks ℓ, ℓ + 32, … of row n (consecutive lanes read consecutive
// blocks: coalesced, widest aligned loads), decodes them through a table in shared memory, multiplies by up to
// MX_GEMV_ROWS activation rows (fp32 accumulate; the block's power-of-two scale is applied to the block's sum), and
// the warp reduces with shuffles. Grid: x = ceil(N / MX_GEMV_WARPS) column groups, y = ceil(M / MX_GEMV_ROWS).
#include "mx_common.cuh"

#ifndef MX_GEMV_ROWS
#error "MX_GEMV_ROWS must be defined (activation rows per warp: 1, 2, 4 or 8)"
#endif
#ifndef MX_GEMV_WARPS
#define MX_GEMV_WARPS 4
#endif

// Loads the MX_BS activations of a block starting at element k0 of row a (length K) as floats; zero past K.
__device__ __forceinline__ void mx_gemv_load_act(const mx_act_t* __restrict__ a, int k0, int K, float* x)
{
    if (k0 + MX_BS <= K) {
#if MX_ACT == 0
        if ((K & 3) == 0) {
#pragma unroll
            for (int i = 0; i < MX_BS / 4; ++i) {
                float4 v = __ldg(reinterpret_cast<const float4*>(a + k0) + i);
                x[4 * i] = v.x; x[4 * i + 1] = v.y; x[4 * i + 2] = v.z; x[4 * i + 3] = v.w;
            }
            return;
        }
#else
        if ((K & 7) == 0) {
#pragma unroll
            for (int i = 0; i < MX_BS / 8; ++i) {
                uint4 v = __ldg(reinterpret_cast<const uint4*>(a + k0) + i);
                unsigned int u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int q = 0; q < 4; ++q) {
#if MX_ACT == 1
                    x[8 * i + 2 * q] = mx_half_to_float((unsigned short)(u[q] & 0xFFFFu));
                    x[8 * i + 2 * q + 1] = mx_half_to_float((unsigned short)(u[q] >> 16));
#else
                    x[8 * i + 2 * q] = mx_bf16_to_float((unsigned short)(u[q] & 0xFFFFu));
                    x[8 * i + 2 * q + 1] = mx_bf16_to_float((unsigned short)(u[q] >> 16));
#endif
                }
            }
            return;
        }
#endif
#pragma unroll
        for (int t = 0; t < MX_BS; ++t) x[t] = mx_act_load(a, k0 + t);
        return;
    }
#pragma unroll
    for (int t = 0; t < MX_BS; ++t) x[t] = k0 + t < K ? mx_act_load(a, k0 + t) : 0.0f;
}

extern "C" __global__ void __launch_bounds__(MX_GEMV_WARPS * 32)
mx_gemv(const mx_act_t* __restrict__ A, const unsigned char* __restrict__ W, const unsigned char* __restrict__ S,
        const float* __restrict__ lut, const float* __restrict__ bias, float* __restrict__ Y,
        int M, int N, int K, float alpha, float beta)
{
#if MX_BITS == 4
    // One lookup per byte: both nibbles' values (element 2i is the low nibble).
    __shared__ float2 s_lut[256];
    for (int i = threadIdx.x; i < 256; i += blockDim.x) s_lut[i] = make_float2(lut[i & 15], lut[i >> 4]);
#else
    __shared__ float s_lut[MX_LUT_SIZE];
    for (int i = threadIdx.x; i < MX_LUT_SIZE; i += blockDim.x) s_lut[i] = lut[i];
#endif
    __syncthreads();

    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * MX_GEMV_WARPS + (threadIdx.x >> 5);
    const int m0 = blockIdx.y * MX_GEMV_ROWS;
    if (n >= N) return;

    const int nb = (K + MX_BS - 1) / MX_BS;
    const unsigned char* wrow = W + (long long)n * nb * MX_BLOCK_BYTES;
    const unsigned char* srow = S + (long long)n * nb;

    float acc[MX_GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < MX_GEMV_ROWS; ++r) acc[r] = 0.0f;

    for (int j = lane; j < nb; j += 32) {
        unsigned int w[MX_BLOCK_BYTES / 4 + 2];
        mx_load_bytes<MX_BLOCK_BYTES, MX_POW2_ALIGN(MX_BLOCK_BYTES)>(wrow + (long long)j * MX_BLOCK_BYTES, w);
        const float scale = mx_e8m0_to_float(__ldg(srow + j));

        float wv[MX_BS];
#if MX_BITS == 4
#pragma unroll
        for (int i = 0; i < MX_BS / 2; ++i) {
            float2 v = s_lut[(w[i >> 2] >> (8 * (i & 3))) & 0xFFu];
            wv[2 * i] = v.x;
            wv[2 * i + 1] = v.y;
        }
#else
#pragma unroll
        for (int t = 0; t < MX_BS; ++t) wv[t] = s_lut[mx_code(w, t)];
#endif

        const int k0 = j * MX_BS;
#pragma unroll
        for (int r = 0; r < MX_GEMV_ROWS; ++r) {
            if (m0 + r < M) {
                float x[MX_BS];
                mx_gemv_load_act(A + (long long)(m0 + r) * K, k0, K, x);
                float s = 0.0f;
#pragma unroll
                for (int t = 0; t < MX_BS; ++t) s = fmaf(wv[t], x[t], s);
                acc[r] = fmaf(s, scale, acc[r]);
            }
        }
    }

#pragma unroll
    for (int r = 0; r < MX_GEMV_ROWS; ++r) {
        float v = acc[r];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
        if (lane == 0 && m0 + r < M) {
            float y = alpha * v;
            if (bias != 0) y = fmaf(beta, bias[n], y);
            Y[(long long)(m0 + r) * N + n] = y;
        }
    }
}
