// adamw.cu: multi-tensor AdamW: one launch updates every parameter of a model.
//
// For each element of each tensor k (p, m, v float32; g float32, float16 or bfloat16):
//   p *= 1 - lr * wd
//   m  = b1 * m + (1 - b1) * g
//   v  = b2 * v + (1 - b2) * g^2
//   p -= (lr / bc1) * m / (sqrt(v / bc2) + eps)          bc1 = 1 - b1^step, bc2 = 1 - b2^step
// Updates p, m, v in place (read-modify-write); g is read only.
//
// Work table (built once per parameter list by the launcher, cached on the device):
//   ptrs  (K, 4) uint64: p, g, m, v addresses of tensor k
//   sizes (K,)   int64:  element count of tensor k
//   gtype (K,)   int64:  0 = float32 grad, 1 = float16 grad, 2 = bfloat16 grad
//   chunk_tensor (nchunks,) and chunk_start (nchunks,) int64: block b updates elements
//   [chunk_start[b], min(chunk_start[b] + chunk, sizes[k])) of tensor k = chunk_tensor[b].
// The launcher packs all five arrays into one int64 buffer (one host-to-device copy per new table).
//
// adamw_step_capturable_kernel: the same update with lr and the step count read from device memory and
// the whole update skipped when *found_inf != 0 (GradScaler saw an inf/nan). Inside a CUDA graph the
// launch arguments are frozen at capture, so anything that changes from step to step (the learning-rate
// schedule, the bias corrections, the overflow decision) has to live in device memory instead.
// bc1/bc2 are computed in double: 1 - beta2^step loses most of its digits in float32 for small steps.
#include "common.cuh"

__device__ __forceinline__ void adamw_step_impl(const unsigned long long* __restrict__ ptrs,
                                                const long long* __restrict__ sizes,
                                                const long long* __restrict__ gtype,
                                                const long long* __restrict__ chunk_tensor,
                                                const long long* __restrict__ chunk_start, long long chunk,
                                                float lr, float beta1, float beta2, float eps,
                                                float weight_decay, float bc1, float bc2) {
    const long long k = chunk_tensor[blockIdx.x];
    float* p = reinterpret_cast<float*>(ptrs[4 * k + 0]);
    const void* g = reinterpret_cast<const void*>(ptrs[4 * k + 1]);
    float* m = reinterpret_cast<float*>(ptrs[4 * k + 2]);
    float* v = reinterpret_cast<float*>(ptrs[4 * k + 3]);
    const long long gt = gtype[k];
    const long long start = chunk_start[blockIdx.x];
    long long end = start + chunk;
    if (end > sizes[k]) end = sizes[k];

    const float decay = 1.f - lr * weight_decay;
    const float step_size = lr / bc1;
    const float inv_bc2 = 1.f / bc2;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        const float gi = gt == 1   ? tg_load(static_cast<const __half*>(g) + i)
                         : gt == 2 ? tg_load(static_cast<const __nv_bfloat16*>(g) + i)
                                   : static_cast<const float*>(g)[i];
        float mi = m[i], vi = v[i], pi = p[i];
        pi *= decay;
        mi = beta1 * mi + (1.f - beta1) * gi;
        vi = beta2 * vi + (1.f - beta2) * gi * gi;
        pi -= step_size * mi / (sqrtf(vi * inv_bc2) + eps);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
    }
}

extern "C" __global__ void __launch_bounds__(256)
adamw_step_kernel(const unsigned long long* __restrict__ ptrs, const long long* __restrict__ sizes,
                  const long long* __restrict__ gtype, const long long* __restrict__ chunk_tensor,
                  const long long* __restrict__ chunk_start, long long chunk, float lr, float beta1,
                  float beta2, float eps, float weight_decay, float bc1, float bc2) {
    adamw_step_impl(ptrs, sizes, gtype, chunk_tensor, chunk_start, chunk, lr, beta1, beta2, eps,
                    weight_decay, bc1, bc2);
}

// lr_ptr: float32 scalar; step_ptr: float32 scalar, already counting this step; found_inf: float32
// scalar or nullptr.
extern "C" __global__ void __launch_bounds__(256)
adamw_step_capturable_kernel(const unsigned long long* __restrict__ ptrs, const long long* __restrict__ sizes,
                             const long long* __restrict__ gtype, const long long* __restrict__ chunk_tensor,
                             const long long* __restrict__ chunk_start, long long chunk,
                             const float* __restrict__ lr_ptr, const float* __restrict__ step_ptr,
                             const float* __restrict__ found_inf, float beta1, float beta2, float eps,
                             float weight_decay) {
    if (found_inf != nullptr && *found_inf != 0.f) return;
    const double step = (double)*step_ptr;
    const float bc1 = (float)(1.0 - pow((double)beta1, step));
    const float bc2 = (float)(1.0 - pow((double)beta2, step));
    adamw_step_impl(ptrs, sizes, gtype, chunk_tensor, chunk_start, chunk, *lr_ptr, beta1, beta2, eps,
                    weight_decay, bc1, bc2);
}
