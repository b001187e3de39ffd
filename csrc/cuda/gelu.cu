// gelu.cu: GELU forward/backward and fused bias + GELU forward, elementwise over n elements.
//
//   approximate == 0 ('none'):  y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
//                                dy/dx = Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi)
//   approximate == 1 ('tanh'):  u = sqrt(2/pi) (x + 0.044715 x^3);  y = 0.5 x (1 + tanh u)
//                                dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   bias_gelu_forward: y[i, c] = gelu(x[i, c] + bias[c]) for x (n / C, C), bias (C,) float32.
//
// Writes (=): y (forward) or dx (backward), dtype T; math in float32.
// Each thread handles 4 consecutive elements per step; `vec4` (set by the launcher when every pointer
// is suitably aligned) turns those into one 16-byte (float) / 8-byte (half) load/store; the ragged tail
// and unaligned arrays take the scalar path.
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

// mode 0: y = gelu(x); mode 1: y = dy * gelu'(x) (a = dy); mode 2: y = gelu(x + bias[i % C]).
template <typename T, int MODE>
__device__ void gelu_elementwise_impl(const T* __restrict__ x, const T* __restrict__ a,
                                      const float* __restrict__ bias, T* __restrict__ y, long long n,
                                      int C, int approximate, int vec4) {
    const long long stride = (long long)gridDim.x * blockDim.x * 4;
    for (long long base = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4; base < n; base += stride) {
        float xv[4], av[4] = {0.f, 0.f, 0.f, 0.f}, out[4];
        const bool full = vec4 && base + 4 <= n;
        if (full) {
            tg_load4(x + base, xv);
            if (MODE == 1) tg_load4(a + base, av);
        } else {
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                xv[k] = base + k < n ? tg_load(x + base + k) : 0.f;
                if (MODE == 1) av[k] = base + k < n ? tg_load(a + base + k) : 0.f;
            }
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            if (MODE == 0) out[k] = gelu_f(xv[k], approximate);
            if (MODE == 1) out[k] = av[k] * gelu_grad_f(xv[k], approximate);
            if (MODE == 2) out[k] = gelu_f(xv[k] + bias[(base + k) % C], approximate);
        }
        if (full) {
            tg_store4(y + base, out);
        } else {
#pragma unroll
            for (int k = 0; k < 4; ++k)
                if (base + k < n) tg_store(y + base + k, out[k]);
        }
    }
}

#define TG_GELU_INSTANTIATE(SUFFIX, T)                                                                \
    extern "C" __global__ void __launch_bounds__(256) gelu_forward_kernel_##SUFFIX(                   \
        const T* x, T* y, long long n, int approximate, int vec4) {                                   \
        gelu_elementwise_impl<T, 0>(x, nullptr, nullptr, y, n, 1, approximate, vec4);                 \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) gelu_backward_kernel_##SUFFIX(                  \
        const T* dy, const T* x, T* dx, long long n, int approximate, int vec4) {                     \
        gelu_elementwise_impl<T, 1>(x, dy, nullptr, dx, n, 1, approximate, vec4);                     \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) bias_gelu_forward_kernel_##SUFFIX(              \
        const T* x, const float* bias, T* y, long long n, int C, int approximate, int vec4) {         \
        gelu_elementwise_impl<T, 2>(x, nullptr, bias, y, n, C, approximate, vec4);                    \
    }

TG_GELU_INSTANTIATE(f32, float)
TG_GELU_INSTANTIATE(f16, __half)
