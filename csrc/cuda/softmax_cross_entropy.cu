// softmax_cross_entropy.cu: fused log-softmax + cross-entropy over logits (N, V); no probabilities
// are ever stored.
//
// Forward (one block per row; blockDim.x a multiple of 32, <= 1024):
//   m = max_j x_j, l = log sum_j exp(x_j - m)   (online max/sum in one pass, float32)
//   q = (1 - ls) * onehot(t) + ls / V
//   loss = (1 - ls) * ((m - x_t) + l) + ls * ((m - mean_j x_j) + l)      loss = 0 where t == ignore_index
//   Writes (=): loss (N,) float32, stats (N, 2) float32 = [m, l] (the logsumexp in two parts: m + l rounds l
//   away when |m| dwarfs it, float32 1e20 + 0.69 == 1e20).
//
// Backward (grid.x over column chunks, grid.y strides over rows):
//   dlogits_j = (exp((x_j - m) - l) - ls / V - (1 - ls) * [j == t]) * dloss      (0 rows where ignored)
//   Writes (=): dlogits (N, V) in T. dlogits may alias logits (in-place backward): each element is
//   read and then written by the same thread, so the pointers are deliberately not __restrict__.
//
// T = float, __half or __nv_bfloat16; target is int64; stats and dloss are float32.
#include "common.cuh"

template <typename T>
__device__ void softmax_cross_entropy_forward_impl(const T* __restrict__ logits,
                                                   const long long* __restrict__ target,
                                                   float* __restrict__ loss, float* __restrict__ stats,
                                                   int N, int V, long long ignore_index,
                                                   float label_smoothing) {
    __shared__ float sm_m[32], sm_s[32], sm_x[32];
    const int row = blockIdx.x;
    if (row >= N) return;                        // uniform over the block
    const T* x = logits + (long long)row * V;
    const int lane = threadIdx.x % TG_WARP, warp = threadIdx.x / TG_WARP;
    const int nwarps = blockDim.x / TG_WARP;

    float m = tg_neg_inf(), s = 0.f, sx = 0.f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float v = tg_load(x + j);
        if (v > m) {                             // rescale the running sum to the new max
            s = s * __expf(m - v) + 1.f;
            m = v;
        } else if (v != tg_neg_inf()) {
            s += __expf(v - m);
        }
        sx += v;
    }
    tg_warp_softmax_merge(m, s);
    sx = tg_warp_sum(sx);
    if (lane == 0) {
        sm_m[warp] = m;
        sm_s[warp] = s;
        sm_x[warp] = sx;
    }
    __syncthreads();
    if (warp == 0) {
        m = lane < nwarps ? sm_m[lane] : tg_neg_inf();
        s = lane < nwarps ? sm_s[lane] : 0.f;
        sx = lane < nwarps ? sm_x[lane] : 0.f;
        tg_warp_softmax_merge(m, s);
        sx = tg_warp_sum(sx);
        if (lane == 0) {
            const float l = logf(s);
            const long long t = target[row];
            float out = 0.f;
            if (t != ignore_index) {
                const float xt = (t >= 0 && t < V) ? tg_load(x + t) : 0.f;
                out = (1.f - label_smoothing) * ((m - xt) + l);
                if (label_smoothing != 0.f) out += label_smoothing * ((m - sx / V) + l);
            }
            loss[row] = out;
            stats[2 * row] = m;
            stats[2 * row + 1] = l;
        }
    }
}

template <typename T>
__device__ void softmax_cross_entropy_backward_impl(const T* logits, const long long* __restrict__ target,
                                                    const float* __restrict__ stats,
                                                    const float* __restrict__ dloss, T* dlogits, int N,
                                                    int V, long long ignore_index,
                                                    float label_smoothing) {
    const float smooth = label_smoothing / V;
    const float hit = 1.f - label_smoothing;
    for (int row = blockIdx.y; row < N; row += gridDim.y) {
        const long long t = target[row];
        const float scale = (t != ignore_index) ? dloss[row] : 0.f;
        const float m = stats[2 * row], l = stats[2 * row + 1];
        const T* x = logits + (long long)row * V;
        T* dx = dlogits + (long long)row * V;
        for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < V; j += gridDim.x * blockDim.x) {
            float p = __expf((tg_load(x + j) - m) - l) - smooth;
            if (j == t) p -= hit;
            tg_store(dx + j, p * scale);
        }
    }
}

#define TG_CE_INSTANTIATE(SUFFIX, T)                                                                  \
    extern "C" __global__ void __launch_bounds__(1024) softmax_cross_entropy_forward_kernel_##SUFFIX( \
        const T* logits, const long long* target, float* loss, float* stats, int N, int V,           \
        long long ignore_index, float label_smoothing) {                                              \
        softmax_cross_entropy_forward_impl<T>(logits, target, loss, stats, N, V, ignore_index,        \
                                              label_smoothing);                                       \
    }                                                                                                 \
    extern "C" __global__ void __launch_bounds__(256) softmax_cross_entropy_backward_kernel_##SUFFIX( \
        const T* logits, const long long* target, const float* stats, const float* dloss, T* dlogits,\
        int N, int V, long long ignore_index, float label_smoothing) {                                \
        softmax_cross_entropy_backward_impl<T>(logits, target, stats, dloss, dlogits, N, V,           \
                                               ignore_index, label_smoothing);                        \
    }

TG_CE_INSTANTIATE(f32, float)
TG_CE_INSTANTIATE(f16, __half)
TG_CE_INSTANTIATE(bf16, __nv_bfloat16)
