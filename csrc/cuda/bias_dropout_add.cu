// bias_dropout_add.cu: out = x + dropout_p(h + bias) (forward) and dh = g * keep / (1 - p) (backward), the GPT's
// residual branch after its projection, with the mask regenerated in backward and never stored.
//
// The mask is csrc/common/philox.h's tg_elem_dropout_keep: flat element e takes word e % 4 of
// Philox(key = seed, counter = (e / 4, offset)), as csrc/cpu/bias_dropout_add.cpp and backend/reference.py draw it,
// so CPU, CUDA and reference agree bit for bit on the mask. One thread per group of four consecutive elements (one
// Philox call), grid-stride; math in float32; T = float, __half or __nv_bfloat16. bias: (C,) over the last dim,
// or null.
// rng_state: null in eager launches; under CUDA-graph capture the device-side Philox pair (philox.h).
#include "common.cuh"
#include "../common/philox.h"

template <class T>
__device__ __forceinline__ void bias_dropout_add_impl(const T* x, const T* h, const T* bias, T* out, long long n,
                                                      long long C, float keep_scale, unsigned int thr,
                                                      unsigned long long seed, unsigned long long offset) {
    const long long groups = (n + 3) / 4;
    for (long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x; g < groups;
         g += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        tg_philox(seed, offset, (unsigned long long)g, w);
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            const long long e = 4 * g + k;
            if (e >= n) break;
            const float z = (w[k] >> 8) >= thr ? keep_scale : 0.f;
            float v = tg_load(h + e);
            if (bias) v += tg_load(bias + e % C);
            tg_store(out + e, (x ? tg_load(x + e) : 0.f) + z * v);
        }
    }
}

#define TG_BDA_INSTANTIATE(SUFFIX, T)                                                                           \
    extern "C" __global__ void __launch_bounds__(256) bias_dropout_add_forward_kernel_##SUFFIX(                 \
        const T* x, const T* h, const T* bias, T* out, long long n, long long C, float keep_scale,              \
        unsigned int thr, unsigned long long seed, unsigned long long offset,                                   \
        const unsigned long long* rng_state) {                                                                  \
        tg_philox_graph_state(rng_state, seed, offset);                                                         \
        bias_dropout_add_impl<T>(x, h, bias, out, n, C, keep_scale, thr, seed, offset);                          \
    }                                                                                                           \
    extern "C" __global__ void __launch_bounds__(256) bias_dropout_add_backward_kernel_##SUFFIX(                \
        const T* g, T* dh, long long n, float keep_scale, unsigned int thr, unsigned long long seed,            \
        unsigned long long offset, const unsigned long long* rng_state) {                                       \
        tg_philox_graph_state(rng_state, seed, offset);                                                         \
        bias_dropout_add_impl<T>(nullptr, g, nullptr, dh, n, 1, keep_scale, thr, seed, offset);                  \
    }

TG_BDA_INSTANTIATE(f32, float)
TG_BDA_INSTANTIATE(f16, __half)
TG_BDA_INSTANTIATE(bf16, __nv_bfloat16)
