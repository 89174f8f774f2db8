// Mx.Onnx CUDA kernel: packed-MX GEMM for large M on tensor cores (sm_80+).
// Y[m, n] = alpha · Σ_k A[m, k] · W[k, n] + beta · bias[n], W packed as N rows of K (docs/packed-layout.md).
// A block computes an MX_BM × 128 tile of Y with 8 warps (2 along M × 4 along N). For each K step of 32 it
// dequantizes the 128 × 32 W tile to bf16 in shared memory (exact: every supported element value times a power of
// two fits bf16), stages the activations as bf16 (with MX_SPLIT_A, as hi + lo bf16 pairs: exact for fp16, about
// 16 significant bits for fp32) and runs mma.sync m16n8k16 bf16 with fp32 accumulators.
// Grid: x = ceil(N / 128), y = ceil(M / MX_BM); 256 threads; dynamic shared memory computed by the host
// (CudaLaunchGeometry): LUT + W tile + A tile(s), rows padded to 40 bf16 so fragment loads are conflict-free.
#include "mx_common.cuh"

#ifndef MX_BM
#error "MX_BM must be defined (32, 64 or 128)"
#endif
#ifndef MX_SPLIT_A
#define MX_SPLIT_A 0
#endif
#define MX_BN 128
#define MX_BK 32
#define MX_WARPS_M 2
#define MX_WARPS_N 4
#define MX_THREADS (32 * MX_WARPS_M * MX_WARPS_N)
#define MX_WM (MX_BM / MX_WARPS_M)
#define MX_WN (MX_BN / MX_WARPS_N)
#define MX_MT (MX_WM / 16)
#define MX_NT (MX_WN / 8)
#define MX_LDS (MX_BK + 8)
#define MX_A_PER_THREAD (MX_BM * MX_BK / MX_THREADS)
#define MX_HALF_BYTES (16 * MX_BITS / 8)
#define MX_W_ALIGN (MX_POW2_ALIGN(MX_BLOCK_BYTES) < MX_POW2_ALIGN(MX_HALF_BYTES) ? MX_POW2_ALIGN(MX_BLOCK_BYTES) : MX_POW2_ALIGN(MX_HALF_BYTES))
#define MX_W_ALIGN8 (MX_POW2_ALIGN(MX_BLOCK_BYTES) < MX_POW2_ALIGN(MX_HALF_BYTES / 2) ? MX_POW2_ALIGN(MX_BLOCK_BYTES) : MX_POW2_ALIGN(MX_HALF_BYTES / 2))

#if MX_BM != 32 && MX_BM != 64 && MX_BM != 128
#error "MX_BM must be 32, 64 or 128"
#endif

__device__ __forceinline__ void mx_mma_bf16(float* c, unsigned int a0, unsigned int a1, unsigned int a2, unsigned int a3,
                                            unsigned int b0, unsigned int b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// One warp's MX_MT × MX_NT mma tiles over the 32-wide K step held in shared memory.
__device__ __forceinline__ void mx_gemm_step(const unsigned short* s_a, const unsigned short* s_w, int wm, int wn, int lane,
                                             float (*acc)[MX_NT][4])
{
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int ks = 0; ks < MX_BK; ks += 16) {
        unsigned int b[MX_NT][2];
#pragma unroll
        for (int nt = 0; nt < MX_NT; ++nt) {
            const unsigned short* p = s_w + (wn * MX_WN + nt * 8 + g) * MX_LDS + ks + 2 * t;
            b[nt][0] = *reinterpret_cast<const unsigned int*>(p);
            b[nt][1] = *reinterpret_cast<const unsigned int*>(p + 8);
        }
#pragma unroll
        for (int mt = 0; mt < MX_MT; ++mt) {
            const unsigned short* p = s_a + (wm * MX_WM + mt * 16 + g) * MX_LDS + ks + 2 * t;
            unsigned int a0 = *reinterpret_cast<const unsigned int*>(p);
            unsigned int a1 = *reinterpret_cast<const unsigned int*>(p + 8 * MX_LDS);
            unsigned int a2 = *reinterpret_cast<const unsigned int*>(p + 8);
            unsigned int a3 = *reinterpret_cast<const unsigned int*>(p + 8 * MX_LDS + 8);
#pragma unroll
            for (int nt = 0; nt < MX_NT; ++nt) mx_mma_bf16(acc[mt][nt], a0, a1, a2, a3, b[nt][0], b[nt][1]);
        }
    }
}

extern "C" __global__ void __launch_bounds__(MX_THREADS)
mx_gemm(const mx_act_t* __restrict__ A, const unsigned char* __restrict__ W, const unsigned char* __restrict__ S,
        const float* __restrict__ lut, const float* __restrict__ bias, float* __restrict__ Y,
        int M, int N, int K, float alpha, float beta)
{
    extern __shared__ uint4 mx_smem[];
    float* s_lut = reinterpret_cast<float*>(mx_smem);
    unsigned short* s_w = reinterpret_cast<unsigned short*>(s_lut + MX_LUT_SIZE);
    unsigned short* s_ahi = s_w + MX_BN * MX_LDS;
#if MX_SPLIT_A
    unsigned short* s_alo = s_ahi + MX_BM * MX_LDS;
#endif

    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / MX_WARPS_N, wn = warp % MX_WARPS_N;
    const int n0 = blockIdx.x * MX_BN, m0 = blockIdx.y * MX_BM;
    const int nb = (K + MX_BS - 1) / MX_BS;
    const int Kp = nb * MX_BS;
    const long long rowBytes = (long long)nb * MX_BLOCK_BYTES;

    for (int i = tid; i < MX_LUT_SIZE; i += MX_THREADS) s_lut[i] = lut[i];

    float acc[MX_MT][MX_NT][4];
#pragma unroll
    for (int mt = 0; mt < MX_MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < MX_NT; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.0f;

    // This thread's share of the W tile: row wr (of 128), elements [16·wh, 16·wh + 16) of the 32-wide step.
    const int wr = tid >> 1, wh = tid & 1;
    const int wn_row = n0 + wr;
    // Its share of the A tile: row ar, MX_A_PER_THREAD consecutive elements from ac.
    const int ar = tid / (MX_BK / MX_A_PER_THREAD), ac = (tid % (MX_BK / MX_A_PER_THREAD)) * MX_A_PER_THREAD;
    const int am = m0 + ar;

    __syncthreads();
    for (int k0 = 0; k0 < Kp; k0 += MX_BK) {
        // W: decode 16 codes, scale, round to bf16 (exact), store as 8 bf16 pairs.
        {
            const int kk = k0 + 16 * wh;
            float v[16];
#pragma unroll
            for (int e = 0; e < 16; ++e) v[e] = 0.0f;
            const int avail = wn_row < N ? Kp - kk : 0;
            if (avail > 0) {
                const unsigned char* p = W + (long long)wn_row * rowBytes + (long long)kk * MX_BITS / 8;
                const unsigned char* s = S + (long long)wn_row * nb + kk / MX_BS;
                unsigned int w[MX_HALF_BYTES / 4 + 2];
                if (avail >= 16) {
                    mx_load_bytes<MX_HALF_BYTES, MX_W_ALIGN>(p, w);
#if MX_BS >= 16
                    const float sc = mx_e8m0_to_float(__ldg(s));
#pragma unroll
                    for (int e = 0; e < 16; ++e) v[e] = s_lut[mx_code(w, e)] * sc;
#else
                    const float sc0 = mx_e8m0_to_float(__ldg(s)), sc1 = mx_e8m0_to_float(__ldg(s + 1));
#pragma unroll
                    for (int e = 0; e < 16; ++e) v[e] = s_lut[mx_code(w, e)] * (e < 8 ? sc0 : sc1);
#endif
                } else {
                    // Only with 8-element blocks: the row's last block is the first half of this 16-element span.
                    mx_load_bytes<MX_HALF_BYTES / 2, MX_W_ALIGN8>(p, w);
                    const float sc0 = mx_e8m0_to_float(__ldg(s));
#pragma unroll
                    for (int e = 0; e < 8; ++e) v[e] = s_lut[mx_code(w, e)] * sc0;
                }
            }
            unsigned int* dst = reinterpret_cast<unsigned int*>(s_w + wr * MX_LDS + 16 * wh);
#pragma unroll
            for (int e = 0; e < 8; ++e) dst[e] = mx_pack_bf16x2(v[2 * e], v[2 * e + 1]);
        }
        // A: MX_A_PER_THREAD activations → bf16 (hi, and lo = rest when split); zero outside [0, M) × [0, K).
        {
            float x[MX_A_PER_THREAD];
            const mx_act_t* arow = A + (long long)am * K;
#pragma unroll
            for (int e = 0; e < MX_A_PER_THREAD; ++e) {
                const int k = k0 + ac + e;
                x[e] = am < M && k < K ? mx_act_load(arow, k) : 0.0f;
            }
            unsigned int* dhi = reinterpret_cast<unsigned int*>(s_ahi + ar * MX_LDS + ac);
#if MX_SPLIT_A
            unsigned int* dlo = reinterpret_cast<unsigned int*>(s_alo + ar * MX_LDS + ac);
#endif
#pragma unroll
            for (int e = 0; e < MX_A_PER_THREAD / 2; ++e) {
                const float h0 = mx_round_bf16(x[2 * e]), h1 = mx_round_bf16(x[2 * e + 1]);
                dhi[e] = mx_pack_bf16x2(h0, h1);
#if MX_SPLIT_A
                dlo[e] = mx_pack_bf16x2(x[2 * e] - h0, x[2 * e + 1] - h1);
#endif
            }
        }
        __syncthreads();
        mx_gemm_step(s_ahi, s_w, wm, wn, lane, acc);
#if MX_SPLIT_A
        mx_gemm_step(s_alo, s_w, wm, wn, lane, acc);
#endif
        __syncthreads();
    }

    // Epilogue: c0, c1 at (row g, cols 2t, 2t+1), c2, c3 at (row g + 8, same cols) of each 16 × 8 tile.
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MX_MT; ++mt) {
#pragma unroll
        for (int nt = 0; nt < MX_NT; ++nt) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int m = m0 + wm * MX_WM + mt * 16 + g + (i >= 2 ? 8 : 0);
                const int n = n0 + wn * MX_WN + nt * 8 + 2 * t + (i & 1);
                if (m < M && n < N) {
                    float y = alpha * acc[mt][nt][i];
                    if (bias != 0) y = fmaf(beta, bias[n], y);
                    Y[(long long)m * N + n] = y;
                }
            }
        }
    }
}
