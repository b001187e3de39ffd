// common.cuh: helpers shared by every csrc/cuda/*.cu file.
//
// These sources are compiled at run time by NVRTC (cupy.RawModule) and, in CI, by nvcc
// (.ci/check_cuda.sh). Hence: device code only, no host code, no C++ standard library headers;
// <cuda_fp16.h> and <cuda_bf16.h> are the only includes (CuPy puts the CUDA include directory on NVRTC's search
// path; both headers leave out their host-side standard headers under NVRTC).
// The loader (tensorgrad/backend/cuda.py) pastes this file in place of `#include "common.cuh"`
// so that CuPy's kernel cache (keyed by source text) sees changes here too.
//
// Conventions
//   - Entry points are `extern "C" __global__` so RawModule finds them by plain name; one name per
//     dtype: `<op>_<forward|backward>_kernel_f32` / `_f16` / `_bf16` (float, __half,
//     __nv_bfloat16), each a thin wrapper over a template.
//   - Half and bfloat16 inputs are converted to float on load and rounded to nearest even on
//     store; every reduction and accumulator is float32.
//   - Indices that can exceed 2^31 (N*C, N*V, B*H*T*D) are `long long`.
#ifndef TG_COMMON_CUH
#define TG_COMMON_CUH
#include <cuda_fp16.h>
#include <cuda_bf16.h>

#define TG_WARP 32
#define TG_FULL_MASK 0xffffffffu

// -inf without <math.h> (NVRTC has no INFINITY macro unless a libc header is present).
__device__ __forceinline__ float tg_neg_inf() { return __int_as_float(0xff800000); }

// ------------------------------------------------------------------------------------ loads / stores
__device__ __forceinline__ float tg_load(const float* p) { return *p; }
__device__ __forceinline__ float tg_load(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ void tg_store(float* p, float v) { *p = v; }
__device__ __forceinline__ void tg_store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ float tg_load(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void tg_store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// Four consecutive elements. The caller guarantees alignment (16 bytes for float, 8 for half and
// bfloat16).
__device__ __forceinline__ void tg_load4(const float* p, float v[4]) {
    float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
}
__device__ __forceinline__ void tg_load4(const __half* p, float v[4]) {
    uint2 t = *reinterpret_cast<const uint2*>(p);
    __half2 a = *reinterpret_cast<__half2*>(&t.x);
    __half2 b = *reinterpret_cast<__half2*>(&t.y);
    float2 fa = __half22float2(a), fb = __half22float2(b);
    v[0] = fa.x; v[1] = fa.y; v[2] = fb.x; v[3] = fb.y;
}
__device__ __forceinline__ void tg_load4(const __nv_bfloat16* p, float v[4]) {
    uint2 t = *reinterpret_cast<const uint2*>(p);
    float2 fa = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&t.x));
    float2 fb = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&t.y));
    v[0] = fa.x; v[1] = fa.y; v[2] = fb.x; v[3] = fb.y;
}
__device__ __forceinline__ void tg_store4(float* p, const float v[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
}
__device__ __forceinline__ void tg_store4(__half* p, const float v[4]) {
    __half2 a = __floats2half2_rn(v[0], v[1]);
    __half2 b = __floats2half2_rn(v[2], v[3]);
    uint2 t;
    t.x = *reinterpret_cast<unsigned int*>(&a);
    t.y = *reinterpret_cast<unsigned int*>(&b);
    *reinterpret_cast<uint2*>(p) = t;
}
__device__ __forceinline__ void tg_store4(__nv_bfloat16* p, const float v[4]) {
    __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
    __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 t;
    t.x = *reinterpret_cast<unsigned int*>(&a);
    t.y = *reinterpret_cast<unsigned int*>(&b);
    *reinterpret_cast<uint2*>(p) = t;
}

// ------------------------------------------------------------------------------------ warp reductions
// All 32 lanes must call these (full mask); every lane gets the result.
__device__ __forceinline__ float tg_warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(TG_FULL_MASK, v, off);
    return v;
}
__device__ __forceinline__ float tg_warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(TG_FULL_MASK, v, off));
    return v;
}

// Online-softmax state (running max m, running sum s of exp(x - m)); merge two states.
// Safe when both maxima are -inf (all inputs masked): the result is (-inf, 0), never NaN.
__device__ __forceinline__ void tg_softmax_merge(float& m, float& s, float m2, float s2) {
    float mn = fmaxf(m, m2);
    if (mn == tg_neg_inf()) { m = mn; s = 0.f; return; }
    s = s * __expf(m - mn) + s2 * __expf(m2 - mn);
    m = mn;
}
__device__ __forceinline__ void tg_warp_softmax_merge(float& m, float& s) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        float m2 = __shfl_xor_sync(TG_FULL_MASK, m, off);
        float s2 = __shfl_xor_sync(TG_FULL_MASK, s, off);
        tg_softmax_merge(m, s, m2, s2);
    }
}

// Block-wide sum; blockDim.x must be a multiple of 32 (<= 1024). `scratch` holds >= 32 floats.
// Every thread gets the result. Contains __syncthreads(): call from all threads.
__device__ __forceinline__ float tg_block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % TG_WARP, warp = threadIdx.x / TG_WARP;
    const int nwarps = blockDim.x / TG_WARP;
    v = tg_warp_sum(v);
    __syncthreads();                       // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : 0.f;
    return tg_warp_sum(v);
}

#endif  // TG_COMMON_CUH
