// layernorm.cu: LayerNorm over the last axis of x (N, C).
//
// Forward (one warp per row):
//   mean = sum_c x / C;  var = sum_c (x - mean)^2 / C;  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * w + b          (w, b optional: has_weight / has_bias flags)
//   Writes (=): y (N, C) in T, mean (N,) and rstd (N,) in float32.
//
// Backward (one warp per row, a block holds nwarps rows at a time and strides over rows):
//   xhat = (x - mean) * rstd;  g = dy * w  (g = dy when there is no weight)
//   dx = (g - mean_c(g) - xhat * mean_c(g * xhat)) * rstd
//   dbias_c = sum_rows dy;  dweight_c = sum_rows dy * xhat
//   Writes (=): dx (N, C) in T; dw_part / db_part (gridDim.x, C) float32, one row of partial sums per
//   block (accumulated with shared-memory atomics inside the block). The launcher sums the partials
//   over blocks (deterministic, no global atomics) and casts to the weight dtype.
//
// T = float, __half or __nv_bfloat16; w and b are always float32 (the launcher casts them, they are tiny).
// Shared memory for backward: 2 * C floats (dynamic).
#include "common.cuh"

template <typename T>
__device__ void layernorm_forward_impl(const T* __restrict__ x, const float* __restrict__ w,
                                       const float* __restrict__ b, T* __restrict__ y,
                                       float* __restrict__ mean, float* __restrict__ rstd,
                                       int N, int C, float eps, int has_weight, int has_bias) {
    const int lane = threadIdx.x % TG_WARP;
    const int row = blockIdx.x * (blockDim.x / TG_WARP) + threadIdx.x / TG_WARP;
    if (row >= N) return;                      // whole warp leaves together: shuffles stay full
    const T* xr = x + (long long)row * C;
    T* yr = y + (long long)row * C;

    float s = 0.f;
    for (int c = lane; c < C; c += TG_WARP) s += tg_load(xr + c);
    const float mu = tg_warp_sum(s) / C;
    float v = 0.f;
    for (int c = lane; c < C; c += TG_WARP) {
        float d = tg_load(xr + c) - mu;
        v += d * d;
    }
    const float rs = rsqrtf(tg_warp_sum(v) / C + eps);
    for (int c = lane; c < C; c += TG_WARP) {
        float o = (tg_load(xr + c) - mu) * rs;
        if (has_weight) o *= w[c];
        if (has_bias) o += b[c];
        tg_store(yr + c, o);
    }
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
}

template <typename T>
__device__ void layernorm_backward_impl(const T* __restrict__ dy, const T* __restrict__ x,
                                        const float* __restrict__ w, const float* __restrict__ mean,
                                        const float* __restrict__ rstd, T* __restrict__ dx,
                                        float* __restrict__ dw_part, float* __restrict__ db_part,
                                        int N, int C, int has_weight) {
    extern __shared__ float ln_smem[];
    float* dw_s = ln_smem;        // C
    float* db_s = ln_smem + C;    // C
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        dw_s[c] = 0.f;
        db_s[c] = 0.f;
    }
    __syncthreads();

    const int lane = threadIdx.x % TG_WARP;
    const int nwarps = blockDim.x / TG_WARP;
    for (int row = blockIdx.x * nwarps + threadIdx.x / TG_WARP; row < N; row += gridDim.x * nwarps) {
        const T* xr = x + (long long)row * C;
        const T* dyr = dy + (long long)row * C;
        T* dxr = dx + (long long)row * C;
        const float mu = mean[row], rs = rstd[row];

        float sg = 0.f, sgx = 0.f;
        for (int c = lane; c < C; c += TG_WARP) {
            float xh = (tg_load(xr + c) - mu) * rs;
            float g = tg_load(dyr + c);
            if (has_weight) g *= w[c];
            sg += g;
            sgx += g * xh;
        }
        const float mg = tg_warp_sum(sg) / C;
        const float mgx = tg_warp_sum(sgx) / C;

        for (int c = lane; c < C; c += TG_WARP) {
            float xh = (tg_load(xr + c) - mu) * rs;
            float d = tg_load(dyr + c);
            float g = has_weight ? d * w[c] : d;
            tg_store(dxr + c, (g - mg - xh * mgx) * rs);
            atomicAdd(&db_s[c], d);
            atomicAdd(&dw_s[c], d * xh);
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        dw_part[(long long)blockIdx.x * C + c] = dw_s[c];
        db_part[(long long)blockIdx.x * C + c] = db_s[c];
    }
}

#define TG_LN_INSTANTIATE(SUFFIX, T)                                                                  \
    extern "C" __global__ void __launch_bounds__(256) layernorm_forward_kernel_##SUFFIX(              \
        const T* x, const float* w, const float* b, T* y, float* mean, float* rstd, int N, int C,    \
        float eps, int has_weight, int has_bias) {                                                    \
        layernorm_forward_impl<T>(x, w, b, y, mean, rstd, N, C, eps, has_weight, has_bias);           \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(512) layernorm_backward_kernel_##SUFFIX(             \
        const T* dy, const T* x, const float* w, const float* mean, const float* rstd, T* dx,        \
        float* dw_part, float* db_part, int N, int C, int has_weight) {                               \
        layernorm_backward_impl<T>(dy, x, w, mean, rstd, dx, dw_part, db_part, N, C, has_weight);     \
    }

TG_LN_INSTANTIATE(f32, float)
TG_LN_INSTANTIATE(f16, __half)
TG_LN_INSTANTIATE(bf16, __nv_bfloat16)
