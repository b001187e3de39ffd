// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11; Random123), the one
// counter-based generator of tensorgrad: the CUDA draws of tensorgrad.random (counter (i, offset), key seed) and the
// dropout inside the fused attention kernels (csrc/cpu/attention.cpp, csrc/cuda/attention*.cu) compute exactly this
// function; tensorgrad/backend/reference.py has its vectorized NumPy/CuPy twin (philox4x32_10), checked bit for bit
// against the known-answer vectors of Random123 and against this header (tests/test_attention_dropout.py).
//
// Plain C arithmetic on 32/64-bit unsigned integers, so the same header compiles as C++ (GCC vectorizes a loop of
// calls over consecutive counters) and as CUDA (NVRTC or nvcc, where the high product is __umulhi).
//
// Attention dropout (the mask is drawn in forward and regenerated in backward, never stored):
//   element (bh, i, j) of a (BH, Tq, Tk) score grid -- bh = b * H + h, query row i, key column j -- takes word
//   i % 4 of Philox(key = seed, counter = (n, offset)) with n = (bh * ceil(Tq / 4) + i / 4) * Tk + j, i.e. one
//   call gives the same key column of four consecutive query rows (the CPU kernels work on 4 rows at a time);
//   uniform u = (word >> 8) / 2^24 (24 bits, exact in float32); keep iff u >= p, i.e. (word >> 8) >= ceil(p 2^24);
//   kept probabilities are scaled by 1 / (1 - p) (0 when p = 1: everything is dropped).
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define TG_PHILOX_FN __host__ __device__ __forceinline__
#else
#define TG_PHILOX_FN static inline __attribute__((always_inline))
#endif

// The one primitive that differs by target: the high and low 32 bits of a 32 x 32-bit product.
TG_PHILOX_FN void tg_mulhilo32(unsigned int a, unsigned int b, unsigned int& hi, unsigned int& lo) {
#if defined(__CUDA_ARCH__)
    hi = __umulhi(a, b);
#else
    hi = (unsigned int)(((unsigned long long)a * b) >> 32);
#endif
    lo = a * b;
}

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__) && defined(__AVX512F__)
#include <immintrin.h>
// Sixteen counters at once on AVX-512 (the CPU attention kernels): vpmuludq on the even and the odd 32-bit lanes.
// (GCC's vector extensions compile the same product to vpmullq, 3-4x slower here.)
// (Shifts as vector-extension operators and the zero-masked multiply: the unmasked intrinsics start from
// _mm512_undefined_epi32(), which GCC 12 reports as maybe-uninitialized.)
typedef unsigned int tg_u32x16 __attribute__((vector_size(64)));
typedef unsigned long long tg_u64x8 __attribute__((vector_size(64)));
static inline __attribute__((always_inline)) void tg_mulhilo32(tg_u32x16 a, unsigned int b, tg_u32x16& hi,
                                                               tg_u32x16& lo) {
    const __m512i m = _mm512_set1_epi32((int)b);
    const tg_u64x8 pe = (tg_u64x8)_mm512_maskz_mul_epu32(0xFF, (__m512i)a, m);                    // lanes 0, 2, ..
    const tg_u64x8 po = (tg_u64x8)_mm512_maskz_mul_epu32(0xFF, (__m512i)((tg_u64x8)a >> 32), m);  // lanes 1, 3, ..
    hi = (tg_u32x16)_mm512_mask_blend_epi32(0xAAAA, (__m512i)(pe >> 32), (__m512i)po);
    lo = (tg_u32x16)_mm512_mask_blend_epi32(0xAAAA, (__m512i)pe, (__m512i)(po << 32));
}
#define TG_PHILOX_X16 1
#endif

// The ten rounds on counter (c0, c1, c2, c3) in place, key (k0, k1): U = unsigned int, or a vector of counters.
template <class U>
TG_PHILOX_FN void tg_philox_rounds(U& c0, U& c1, U& c2, U& c3, unsigned int k0, unsigned int k1) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#pragma unroll
#else
#pragma GCC unroll 10
#endif
    for (int r = 0; r < 10; ++r) {
        if (r) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        U hi0, lo0, hi1, lo1;
        tg_mulhilo32(c0, 0xD2511F53u, hi0, lo0);
        tg_mulhilo32(c2, 0xCD9E8D57u, hi1, lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
}

// w = Philox4x32-10(counter = (c0, c1, c2, c3), key = (k0, k1)).
TG_PHILOX_FN void tg_philox4x32_10(unsigned int c0, unsigned int c1, unsigned int c2, unsigned int c3,
                                   unsigned int k0, unsigned int k1, unsigned int w[4]) {
    tg_philox_rounds(c0, c1, c2, c3, k0, k1);
    w[0] = c0;
    w[1] = c1;
    w[2] = c2;
    w[3] = c3;
}

// tensorgrad.random's counter layout: element n of draw `offset` uses counter (n, offset) under key seed.
TG_PHILOX_FN void tg_philox(unsigned long long seed, unsigned long long offset, unsigned long long n,
                            unsigned int w[4]) {
    tg_philox4x32_10((unsigned int)n, (unsigned int)(n >> 32), (unsigned int)offset, (unsigned int)(offset >> 32),
                     (unsigned int)seed, (unsigned int)(seed >> 32), w);
}

// Dropout threshold on the 24-bit uniform: keep iff (word >> 8) >= tg_dropout_threshold(p), for p in [0, 1].
TG_PHILOX_FN unsigned int tg_dropout_threshold(double p) {
    const double t = p * 16777216.0;
    unsigned int u = (unsigned int)t;
    return (double)u < t ? u + 1u : u;  // ceil, without <cmath> (NVRTC)
}

// 1 / (1 - p), and 0 for p >= 1 (nothing is kept, and 0 * inf must not make NaN).
TG_PHILOX_FN double tg_dropout_keep_scale(double p) { return p >= 1.0 ? 0.0 : 1.0 / (1.0 - p); }

// Elementwise dropout (bias_dropout_add, the GPT's residual branches): flat element e of the tensor takes word e % 4 of
// Philox(key = seed, counter = (e / 4, offset)), one call for four consecutive elements; keep iff (word >> 8) >= thr.
TG_PHILOX_FN bool tg_elem_dropout_keep(unsigned long long seed, unsigned long long offset, unsigned long long e,
                                       unsigned int thr) {
    unsigned int w[4];
    tg_philox(seed, offset, e >> 2, w);
    const int r = (int)(e & 3);
    const unsigned int x = r == 0 ? w[0] : r == 1 ? w[1] : r == 2 ? w[2] : w[3];
    return (x >> 8) >= thr;
}

// The counter n of attention-dropout element (bh, i, j); its word is i % 4 (see the header comment).
TG_PHILOX_FN unsigned long long tg_attn_dropout_counter(long long bh, long long i, long long j, long long Tq,
                                                        long long Tk) {
    return ((unsigned long long)bh * (unsigned long long)((Tq + 3) / 4) + (unsigned long long)(i / 4)) *
               (unsigned long long)Tk +
           (unsigned long long)j;
}

// Whether attention-dropout element (bh, i, j) is kept, one element at a time (CUDA threads own scattered
// elements; the CPU kernels draw 4 rows x 64 keys at once in dropout_keep, csrc/cpu/attention_tiles.h).
TG_PHILOX_FN bool tg_attn_dropout_keep(unsigned long long seed, unsigned long long offset, long long bh, long long i,
                                       long long j, long long Tq, long long Tk, unsigned int thr) {
    unsigned int w[4];
    tg_philox(seed, offset, tg_attn_dropout_counter(bh, i, j, Tq, Tk), w);
    const int r = (int)(i & 3);
    const unsigned int x = r == 0 ? w[0] : r == 1 ? w[1] : r == 2 ? w[2] : w[3];  // no dynamic index (CUDA)
    return (x >> 8) >= thr;
}

// CUDA-graph capture (tensorgrad/backend/capture.py, GraphOffset): a captured kernel cannot take the Philox pair as
// launch arguments, since they would be frozen into the graph and every replay would draw one mask. Under capture the
// launcher passes rng_state, a device array {seed, base offset} that the replay prologue rewrites from the Generator
// before each launch, and `offset` is then the draw's position within the captured step: the kernel uses
// (rng_state[0], rng_state[1] + offset). Eager launches pass a null rng_state and the pair itself.
TG_PHILOX_FN void tg_philox_graph_state(const unsigned long long* rng_state, unsigned long long& seed,
                                        unsigned long long& offset) {
    if (rng_state) {
        seed = rng_state[0];
        offset += rng_state[1];
    }
}
