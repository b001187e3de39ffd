// gelu.cu: GELU forward/backward, elementwise over n elements.
//
//   approximate == 0 ('none'):  y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
//                                dy/dx = Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi)
//   approximate == 1 ('tanh'):  u = sqrt(2/pi) (x + 0.044715 x^3);  y = 0.5 x (1 + tanh u)
//                                dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//
// Writes (=): y (forward) or dx (backward), dtype T; math in float32.
// Each thread handles 16 bytes of consecutive elements per step (4 float, 8 half or bfloat16); `vec` (set by the
// launcher when every pointer is 16-byte aligned) turns those into one 16-byte load/store per array; the ragged tail
// and unaligned arrays take the scalar path. Half used to move 8 bytes (4 elements) per access, and its forward ran at
// 0.70x PyTorch's speed on an H100 (benchmarks/bench_cuda_kernels.py): one 16-byte access per thread keeps more
// bytes in flight per instruction.
#include "common.cuh"

#define TG_SQRT_2_OVER_PI 0.7978845608028654f
#define TG_INV_SQRT2 0.7071067811865476f
#define TG_INV_SQRT_2PI 0.3989422804014327f

__device__ __forceinline__ float gelu_f(float x, int approximate) {
    if (approximate) {
        const float u = TG_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.f + tanhf(u));
    }
    return 0.5f * x * (1.f + erff(x * TG_INV_SQRT2));
}

__device__ __forceinline__ float gelu_grad_f(float x, int approximate) {
    if (approximate) {
        const float u = TG_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        const float t = tanhf(u);
        return 0.5f * (1.f + t) +
               0.5f * x * (1.f - t * t) * TG_SQRT_2_OVER_PI * (1.f + 3.f * 0.044715f * x * x);
    }
    const float cdf = 0.5f * (1.f + erff(x * TG_INV_SQRT2));
    const float pdf = __expf(-0.5f * x * x) * TG_INV_SQRT_2PI;
    return cdf + x * pdf;
}

// 16 bytes of elements as floats: 4 float or 8 half / bfloat16. The caller guarantees 16-byte alignment.
__device__ __forceinline__ void tg_load16(const float* p, float v[4]) { tg_load4(p, v); }
__device__ __forceinline__ void tg_store16(float* p, const float v[4]) { tg_store4(p, v); }
__device__ __forceinline__ void tg_load16(const __half* p, float v[8]) {
    const uint4 t = *reinterpret_cast<const uint4*>(p);
    const unsigned int w[4] = {t.x, t.y, t.z, t.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[k]));
        v[2 * k] = f.x;
        v[2 * k + 1] = f.y;
    }
}
__device__ __forceinline__ void tg_store16(__half* p, const float v[8]) {
    unsigned int w[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const __half2 h = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
        w[k] = *reinterpret_cast<const unsigned int*>(&h);
    }
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}
__device__ __forceinline__ void tg_load16(const __nv_bfloat16* p, float v[8]) {
    const uint4 t = *reinterpret_cast<const uint4*>(p);
    const unsigned int w[4] = {t.x, t.y, t.z, t.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[k]));
        v[2 * k] = f.x;
        v[2 * k + 1] = f.y;
    }
}
__device__ __forceinline__ void tg_store16(__nv_bfloat16* p, const float v[8]) {
    unsigned int w[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
        w[k] = *reinterpret_cast<const unsigned int*>(&h);
    }
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

// mode 0: y = gelu(x); mode 1: y = dy * gelu'(x) (a = dy).
template <typename T, int MODE>
__device__ void gelu_elementwise_impl(const T* __restrict__ x, const T* __restrict__ a, T* __restrict__ y,
                                      long long n, int approximate, int vec) {
    constexpr int EPT = 16 / sizeof(T);  // elements per thread and step; the launcher's grid assumes the same
    const long long stride = (long long)gridDim.x * blockDim.x * EPT;
    for (long long base = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * EPT; base < n; base += stride) {
        float xv[EPT], av[EPT], out[EPT];
        const bool full = vec && base + EPT <= n;
        if (full) {
            tg_load16(x + base, xv);
            if (MODE == 1) tg_load16(a + base, av);
        } else {
#pragma unroll
            for (int k = 0; k < EPT; ++k) {
                xv[k] = base + k < n ? tg_load(x + base + k) : 0.f;
                if (MODE == 1) av[k] = base + k < n ? tg_load(a + base + k) : 0.f;
            }
        }
#pragma unroll
        for (int k = 0; k < EPT; ++k) {
            if (MODE == 0) out[k] = gelu_f(xv[k], approximate);
            if (MODE == 1) out[k] = av[k] * gelu_grad_f(xv[k], approximate);
        }
        if (full) {
            tg_store16(y + base, out);
        } else {
#pragma unroll
            for (int k = 0; k < EPT; ++k)
                if (base + k < n) tg_store(y + base + k, out[k]);
        }
    }
}

#define TG_GELU_INSTANTIATE(SUFFIX, T)                                                                \
    extern "C" __global__ void __launch_bounds__(256) gelu_forward_kernel_##SUFFIX(                   \
        const T* x, T* y, long long n, int approximate, int vec) {                                    \
        gelu_elementwise_impl<T, 0>(x, nullptr, y, n, approximate, vec);                  \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) gelu_backward_kernel_##SUFFIX(                  \
        const T* dy, const T* x, T* dx, long long n, int approximate, int vec) {                      \
        gelu_elementwise_impl<T, 1>(x, dy, dx, n, approximate, vec);                      \
    }

TG_GELU_INSTANTIATE(f32, float)
TG_GELU_INSTANTIATE(f16, __half)
TG_GELU_INSTANTIATE(bf16, __nv_bfloat16)
