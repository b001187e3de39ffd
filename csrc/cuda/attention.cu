// attention.cu: flash attention (tiled, online softmax), forward and backward, causal or not.
//
// Shapes: q (B, H, Tq, D), k and v (B, H, Tk, D), all C-contiguous, T = float, __half or __nv_bfloat16; D <= 128.
// Causal follows PyTorch's is_causal: query i sees keys j <= i (top-left aligned), so every query row
// sees key 0 and no row is fully masked.
//
// Forward, one block per (b*h, BM query rows), 256 threads as a 16 x 16 grid (ty, tx):
//   for each key tile of BN keys:  S = scale * Q K^T (masked to -inf),  online softmax update
//     m_new = max(m, rowmax S);  P = exp(S - m_new);  l = l * exp(m - m_new) + rowsum P
//     acc = acc * exp(m - m_new) + P V
//   out = acc / l;  lse = m + log l
//   Writes (=): out (B, H, Tq, D) in T, lse (B, H, Tq) float32. Only lse is saved for backward.
//   Thread (ty, tx) owns query rows ty + 16 i (i < BM/16), key columns tx + 16 j of S and head dims
//   tx + 16 j of acc, so the row statistics are reduced over the 16 lanes sharing ty (shuffles).
//
// Backward, pre-kernel (one warp per query row):  delta = rowsum(dO * O), float32 (B, H, Tq).
// Backward, one block per (b*h, BN key rows), looping over the query tiles that can see those keys:
//   P^T = exp(scale * K Q^T - lse)   dP^T = V dO^T   dS^T = P^T * (dP^T - delta) * scale
//   dV += P^T dO    dK += dS^T Q     (registers; written (=) once at the end, in T)
//   dQ += dS K      (accumulated (+=) with float32 atomicAdd into dq_acc (B, H, Tq, D), which the
//                    launcher zero-fills and casts to q's dtype afterwards)
//
// Head dims: the kernels are instantiated for DP = 64 and DP = 128 (the padded head dim; D is a runtime
// argument). D == 64 / 128 are the fast cases; any other D <= 128 runs the DP = 64 or 128 kernel with
// zero padding in shared memory. Tiles live in shared memory as float32 with rows padded to DP + 1
// floats (odd stride: the 16 rows read in one step land in 16 different banks).
// Shared memory (bytes; the launcher computes the same numbers, tensorgrad/backend/cuda.py):
//   forward  (BM*(DP+1) + BN*(DP+1) + BM*(BN+1)) * 4
//   backward (2*BN*(DP+1) + 2*BM*(DP+1) + 2*BN*(BM+1) + 2*BM) * 4   (> 48 KiB: opt-in attribute)
// Tiles (DP, BM, BN): forward (64, 64, 32), (128, 32, 32); backward (64, 32, 64), (128, 32, 32).
//
// Dropout (drop_thr > 0; see csrc/common/philox.h): the kept probabilities of element (bh, r, c) come from Philox at
// (seed, offset), regenerated in backward. Forward: l sums the undropped P, P V uses P o keep, out = acc *
// keep_scale / l. Backward: P^T tile holds (P o Z)^T for dV, dS^T = P^T o (Z o dP^T - delta) * scale with
// Z = keep * keep_scale; delta = rowsum(dO * O) is unchanged. drop_thr = 0, keep_scale = 1: no dropout, same bits.
// rng_state (null in eager launches) is the device-side Philox pair of a CUDA-graph capture (philox.h,
// tg_philox_graph_state). The tensor-core kernels (attention_tc.cu) draw the same mask with the same arguments.
//
// These are CUDA-core (FFMA) kernels: exact float32 math, no tensor cores. They run float32, head dims
// other than 64 / 128, and everything when TENSORGRAD_ATTN_TC=0; float16 and bfloat16 with D == 64 or 128 run
// the tensor-core kernels of attention_tc.cu (same signatures and outputs; the delta kernel here is shared).
#include "common.cuh"
#include "../common/philox.h"

__device__ __forceinline__ float tg_half_warp_max(float v) {
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(TG_FULL_MASK, v, off));
    return v;
}
__device__ __forceinline__ float tg_half_warp_sum(float v) {
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) v += __shfl_xor_sync(TG_FULL_MASK, v, off);
    return v;
}

// rows x DP tile of a (T, D) matrix starting at row r0 -> smem (stride DP + 1), zero outside.
template <typename T, int ROWS, int DP>
__device__ __forceinline__ void attn_load_tile(float* dst, const T* __restrict__ src, int r0, int nrows,
                                               int D) {
    for (int idx = threadIdx.x; idx < ROWS * DP; idx += blockDim.x) {
        const int r = idx / DP, d = idx % DP;
        const int gr = r0 + r;
        dst[r * (DP + 1) + d] = (gr < nrows && d < D) ? tg_load(src + (long long)gr * D + d) : 0.f;
    }
}

template <typename T, int DP, int BM, int BN>
__device__ void attention_forward_impl(const T* __restrict__ q, const T* __restrict__ k,
                                       const T* __restrict__ v, T* __restrict__ out,
                                       float* __restrict__ lse, int Tq, int Tk, int D, float scale,
                                       int causal, float keep_scale, unsigned int drop_thr,
                                       unsigned long long seed, unsigned long long offset) {
    constexpr int RM = BM / 16, CN = BN / 16, DN = DP / 16;
    constexpr int SQ = DP + 1, SP = BN + 1;
    extern __shared__ float attn_smem[];
    float* Qs = attn_smem;            // BM x SQ
    float* KVs = Qs + BM * SQ;        // BN x SQ, holds K then V of the current key tile
    float* Ps = KVs + BN * SQ;        // BM x SP

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const long long bh = blockIdx.x;
    const int q0 = (gridDim.y - 1 - blockIdx.y) * BM;   // heaviest (causal) tiles first
    const T* qb = q + bh * Tq * D;
    const T* kb = k + bh * Tk * D;
    const T* vb = v + bh * Tk * D;

    attn_load_tile<T, BM, DP>(Qs, qb, q0, Tq, D);

    float m_i[RM], l_i[RM], acc[RM][DN];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        m_i[i] = tg_neg_inf();
        l_i[i] = 0.f;
#pragma unroll
        for (int j = 0; j < DN; ++j) acc[i][j] = 0.f;
    }

    const int kv_end = causal ? min(Tk, q0 + BM) : Tk;
    for (int k0 = 0; k0 < kv_end; k0 += BN) {
        __syncthreads();                                   // everyone done with V / P of the last tile
        attn_load_tile<T, BN, DP>(KVs, kb, k0, Tk, D);
        __syncthreads();                                   // K (and, first time, Q) visible

        float s[RM][CN];
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
            for (int j = 0; j < CN; ++j) s[i][j] = 0.f;
#pragma unroll 8
        for (int d = 0; d < DP; ++d) {
            float qv[RM], kv[CN];
#pragma unroll
            for (int i = 0; i < RM; ++i) qv[i] = Qs[(ty + 16 * i) * SQ + d];
#pragma unroll
            for (int j = 0; j < CN; ++j) kv[j] = KVs[(tx + 16 * j) * SQ + d];
#pragma unroll
            for (int i = 0; i < RM; ++i)
#pragma unroll
                for (int j = 0; j < CN; ++j) s[i][j] += qv[i] * kv[j];
        }

#pragma unroll
        for (int i = 0; i < RM; ++i) {
            const int r = q0 + ty + 16 * i;
            float mt = tg_neg_inf();
#pragma unroll
            for (int j = 0; j < CN; ++j) {
                const int c = k0 + tx + 16 * j;
                const bool ok = c < Tk && (!causal || c <= r);
                s[i][j] = ok ? s[i][j] * scale : tg_neg_inf();
                mt = fmaxf(mt, s[i][j]);
            }
            mt = tg_half_warp_max(mt);
            const float mn = fmaxf(m_i[i], mt);
            const float alpha = (m_i[i] == tg_neg_inf()) ? 0.f : __expf(m_i[i] - mn);
            float ps = 0.f;
#pragma unroll
            for (int j = 0; j < CN; ++j) {
                const float p = (s[i][j] == tg_neg_inf()) ? 0.f : __expf(s[i][j] - mn);
                const bool drop = drop_thr && p != 0.f &&
                                  !tg_attn_dropout_keep(seed, offset, bh, r, k0 + tx + 16 * j, Tq, Tk, drop_thr);
                Ps[(ty + 16 * i) * SP + tx + 16 * j] = drop ? 0.f : p;
                ps += p;
            }
            ps = tg_half_warp_sum(ps);
            l_i[i] = l_i[i] * alpha + ps;
            m_i[i] = mn;
#pragma unroll
            for (int j = 0; j < DN; ++j) acc[i][j] *= alpha;
        }
        __syncthreads();                                   // K no longer needed; P complete
        attn_load_tile<T, BN, DP>(KVs, vb, k0, Tk, D);
        __syncthreads();                                   // V visible

#pragma unroll 4
        for (int c = 0; c < BN; ++c) {
            float pv[RM], vv[DN];
#pragma unroll
            for (int i = 0; i < RM; ++i) pv[i] = Ps[(ty + 16 * i) * SP + c];
#pragma unroll
            for (int j = 0; j < DN; ++j) vv[j] = KVs[c * SQ + tx + 16 * j];
#pragma unroll
            for (int i = 0; i < RM; ++i)
#pragma unroll
                for (int j = 0; j < DN; ++j) acc[i][j] += pv[i] * vv[j];
        }
    }

#pragma unroll
    for (int i = 0; i < RM; ++i) {
        const int r = q0 + ty + 16 * i;
        if (r >= Tq) continue;
        const float inv = keep_scale / l_i[i];
        T* orow = out + (bh * Tq + r) * D;
#pragma unroll
        for (int j = 0; j < DN; ++j) {
            const int d = tx + 16 * j;
            if (d < D) tg_store(orow + d, acc[i][j] * inv);
        }
        if (tx == 0) lse[bh * Tq + r] = m_i[i] + logf(l_i[i]);
    }
}

// delta[row] = sum_d dout[row, d] * out[row, d]; one warp per row of the (rows, D) matrices.
template <typename T>
__device__ void attention_delta_impl(const T* __restrict__ dout, const T* __restrict__ out,
                                     float* __restrict__ delta, long long rows, int D) {
    const long long row = (long long)blockIdx.x * (blockDim.x / TG_WARP) + threadIdx.x / TG_WARP;
    if (row >= rows) return;                               // whole warp together
    const int lane = threadIdx.x % TG_WARP;
    float s = 0.f;
    for (int d = lane; d < D; d += TG_WARP) s += tg_load(dout + row * D + d) * tg_load(out + row * D + d);
    s = tg_warp_sum(s);
    if (lane == 0) delta[row] = s;
}

template <typename T, int DP, int BM, int BN>
__device__ void attention_backward_impl(const T* __restrict__ dout, const T* __restrict__ q,
                                        const T* __restrict__ k, const T* __restrict__ v,
                                        const float* __restrict__ lse, const float* __restrict__ delta,
                                        float* __restrict__ dq_acc, T* __restrict__ dk,
                                        T* __restrict__ dv, int Tq, int Tk, int D, float scale,
                                        int causal, float keep_scale, unsigned int drop_thr,
                                        unsigned long long seed, unsigned long long offset) {
    constexpr int RN = BN / 16;   // key rows per thread (dK, dV, S^T rows)
    constexpr int CM = BM / 16;   // query columns per thread in S^T; also query rows per thread in dQ
    constexpr int DN = DP / 16;   // head dims per thread
    constexpr int SQ = DP + 1, SP = BM + 1;
    extern __shared__ float attn_smem[];
    float* Ks = attn_smem;              // BN x SQ
    float* Vs = Ks + BN * SQ;           // BN x SQ
    float* Qs = Vs + BN * SQ;           // BM x SQ
    float* dOs = Qs + BM * SQ;          // BM x SQ
    float* PTs = dOs + BM * SQ;         // BN x SP   P^T
    float* dSTs = PTs + BN * SP;        // BN x SP   dS^T
    float* lse_s = dSTs + BN * SP;      // BM
    float* dl_s = lse_s + BM;           // BM

    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const long long bh = blockIdx.x;
    const int k0 = blockIdx.y * BN;
    const T* qb = q + bh * Tq * D;
    const T* dob = dout + bh * Tq * D;
    const T* kb = k + bh * Tk * D;
    const T* vb = v + bh * Tk * D;
    float* dqb = dq_acc + bh * Tq * D;

    attn_load_tile<T, BN, DP>(Ks, kb, k0, Tk, D);
    attn_load_tile<T, BN, DP>(Vs, vb, k0, Tk, D);

    float dk_acc[RN][DN], dv_acc[RN][DN];
#pragma unroll
    for (int i = 0; i < RN; ++i)
#pragma unroll
        for (int j = 0; j < DN; ++j) dk_acc[i][j] = dv_acc[i][j] = 0.f;

    // causal: queries r < k0 see none of these keys; start at the query tile holding row k0.
    const int q_begin = causal ? (k0 / BM) * BM : 0;
    for (int q0 = q_begin; q0 < Tq; q0 += BM) {
        __syncthreads();                                   // last iteration done with Q, dO, P^T, dS^T
        attn_load_tile<T, BM, DP>(Qs, qb, q0, Tq, D);
        attn_load_tile<T, BM, DP>(dOs, dob, q0, Tq, D);
        for (int r = threadIdx.x; r < BM; r += blockDim.x) {
            const bool in = q0 + r < Tq;
            lse_s[r] = in ? lse[bh * Tq + q0 + r] : 0.f;
            dl_s[r] = in ? delta[bh * Tq + q0 + r] : 0.f;
        }
        __syncthreads();

        float st[RN][CM], dpt[RN][CM];
#pragma unroll
        for (int i = 0; i < RN; ++i)
#pragma unroll
            for (int j = 0; j < CM; ++j) st[i][j] = dpt[i][j] = 0.f;
#pragma unroll 4
        for (int d = 0; d < DP; ++d) {
            float kk[RN], vv[RN], qq[CM], oo[CM];
#pragma unroll
            for (int i = 0; i < RN; ++i) {
                kk[i] = Ks[(ty + 16 * i) * SQ + d];
                vv[i] = Vs[(ty + 16 * i) * SQ + d];
            }
#pragma unroll
            for (int j = 0; j < CM; ++j) {
                qq[j] = Qs[(tx + 16 * j) * SQ + d];
                oo[j] = dOs[(tx + 16 * j) * SQ + d];
            }
#pragma unroll
            for (int i = 0; i < RN; ++i)
#pragma unroll
                for (int j = 0; j < CM; ++j) {
                    st[i][j] += kk[i] * qq[j];
                    dpt[i][j] += vv[i] * oo[j];
                }
        }
#pragma unroll
        for (int i = 0; i < RN; ++i) {
            const int lc = ty + 16 * i, c = k0 + lc;
#pragma unroll
            for (int j = 0; j < CM; ++j) {
                const int lr = tx + 16 * j, r = q0 + lr;
                const bool ok = r < Tq && c < Tk && (!causal || c <= r);
                const float p = ok ? __expf(st[i][j] * scale - lse_s[lr]) : 0.f;
                float z = 1.f;
                if (drop_thr && ok) z = tg_attn_dropout_keep(seed, offset, bh, r, c, Tq, Tk, drop_thr) ? keep_scale : 0.f;
                PTs[lc * SP + lr] = p * z;
                dSTs[lc * SP + lr] = p * (z * dpt[i][j] - dl_s[lr]) * scale;
            }
        }
        __syncthreads();                                   // P^T, dS^T complete

        // dV += P^T dO,  dK += dS^T Q   (rows ty + 16 i, dims tx + 16 j)
#pragma unroll 4
        for (int r = 0; r < BM; ++r) {
            float pp[RN], ss[RN], oo[DN], qq[DN];
#pragma unroll
            for (int i = 0; i < RN; ++i) {
                pp[i] = PTs[(ty + 16 * i) * SP + r];
                ss[i] = dSTs[(ty + 16 * i) * SP + r];
            }
#pragma unroll
            for (int j = 0; j < DN; ++j) {
                oo[j] = dOs[r * SQ + tx + 16 * j];
                qq[j] = Qs[r * SQ + tx + 16 * j];
            }
#pragma unroll
            for (int i = 0; i < RN; ++i)
#pragma unroll
                for (int j = 0; j < DN; ++j) {
                    dv_acc[i][j] += pp[i] * oo[j];
                    dk_acc[i][j] += ss[i] * qq[j];
                }
        }

        // dQ[r] += sum_c dS^T[c, r] K[c]   (rows ty + 16 i of this query tile, dims tx + 16 j)
#pragma unroll
        for (int i = 0; i < CM; ++i) {
            const int lr = ty + 16 * i, r = q0 + lr;
            float aq[DN];
#pragma unroll
            for (int j = 0; j < DN; ++j) aq[j] = 0.f;
#pragma unroll 4
            for (int c = 0; c < BN; ++c) {
                const float sv = dSTs[c * SP + lr];
#pragma unroll
                for (int j = 0; j < DN; ++j) aq[j] += sv * Ks[c * SQ + tx + 16 * j];
            }
            if (r < Tq) {
#pragma unroll
                for (int j = 0; j < DN; ++j) {
                    const int d = tx + 16 * j;
                    if (d < D) atomicAdd(dqb + (long long)r * D + d, aq[j]);
                }
            }
        }
    }

#pragma unroll
    for (int i = 0; i < RN; ++i) {
        const int c = k0 + ty + 16 * i;
        if (c >= Tk) continue;
#pragma unroll
        for (int j = 0; j < DN; ++j) {
            const int d = tx + 16 * j;
            if (d < D) {
                tg_store(dk + (bh * Tk + c) * D + d, dk_acc[i][j]);
                tg_store(dv + (bh * Tk + c) * D + d, dv_acc[i][j]);
            }
        }
    }
}

#define TG_ATTN_INSTANTIATE(SUFFIX, T, DP, FBM, FBN, BBM, BBN)                                        \
    extern "C" __global__ void __launch_bounds__(256) attention_forward_kernel_##SUFFIX##_d##DP(      \
        const T* q, const T* k, const T* v, T* out, float* lse, int Tq, int Tk, int D, float scale,  \
        int causal, float keep_scale, unsigned int drop_thr, unsigned long long seed,                \
        unsigned long long offset, const unsigned long long* rng_state) {                             \
        tg_philox_graph_state(rng_state, seed, offset);                                               \
        attention_forward_impl<T, DP, FBM, FBN>(q, k, v, out, lse, Tq, Tk, D, scale, causal,          \
                                                keep_scale, drop_thr, seed, offset);                  \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) attention_backward_kernel_##SUFFIX##_d##DP(     \
        const T* dout, const T* q, const T* k, const T* v, const float* lse, const float* delta,     \
        float* dq_acc, T* dk, T* dv, int Tq, int Tk, int D, float scale, int causal, float keep_scale, \
        unsigned int drop_thr, unsigned long long seed, unsigned long long offset,                    \
        const unsigned long long* rng_state) {                                                        \
        tg_philox_graph_state(rng_state, seed, offset);                                               \
        attention_backward_impl<T, DP, BBM, BBN>(dout, q, k, v, lse, delta, dq_acc, dk, dv, Tq, Tk,   \
                                                 D, scale, causal, keep_scale, drop_thr, seed, offset); \
    }

TG_ATTN_INSTANTIATE(f32, float, 64, 64, 32, 32, 64)
TG_ATTN_INSTANTIATE(f32, float, 128, 32, 32, 32, 32)
TG_ATTN_INSTANTIATE(f16, __half, 64, 64, 32, 32, 64)
TG_ATTN_INSTANTIATE(f16, __half, 128, 32, 32, 32, 32)
TG_ATTN_INSTANTIATE(bf16, __nv_bfloat16, 64, 64, 32, 32, 64)
TG_ATTN_INSTANTIATE(bf16, __nv_bfloat16, 128, 32, 32, 32, 32)

extern "C" __global__ void __launch_bounds__(256)
attention_delta_kernel_f32(const float* dout, const float* out, float* delta, long long rows, int D) {
    attention_delta_impl<float>(dout, out, delta, rows, D);
}
extern "C" __global__ void __launch_bounds__(256)
attention_delta_kernel_f16(const __half* dout, const __half* out, float* delta, long long rows, int D) {
    attention_delta_impl<__half>(dout, out, delta, rows, D);
}
extern "C" __global__ void __launch_bounds__(256)
attention_delta_kernel_bf16(const __nv_bfloat16* dout, const __nv_bfloat16* out, float* delta, long long rows, int D) {
    attention_delta_impl<__nv_bfloat16>(dout, out, delta, rows, D);
}
