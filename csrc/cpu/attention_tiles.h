// Tile micro-kernels of the CPU flash attention (attention.cpp): transposed K/V tiles, GCC-vector helpers
// (load/store, exp, lane masks, horizontal reductions), the register-blocked score product (dot_rows) and
// row update (update_rows), and the vector softmax pieces. Kept apart so attention.cpp reads as the algorithm.
#pragma once
#include "philox.h"
#include "tg_common.h"

namespace tg {

constexpr int BK = 64;  // keys per tile: 4 AVX-512 float vectors, so a row of s stays in registers

// Attention dropout (csrc/common/philox.h has the mask's definition): the Philox key and offset, the threshold on
// the 24-bit uniform, the counter layout's extents, and the scale 1 / (1 - p) of kept probabilities.
struct Drop {
    uint64_t seed = 0, offset = 0;
    uint32_t thr = 0;
    int64_t groups = 0, Tk = 0;  // ceil(Tq / 4) counters per key column of a head, keys per row
    double keep_scale = 1.0;
};

// Z[r * BK + u] = 1 where element (bh, i + r, j0 + u) is kept, else 0, for r < R and u < nl. With R = 4, i % 4 == 0
// and one Philox call per key column gives the four rows (its four words); with R = 1 the row takes word i % 4.
// On AVX-512 the columns go 16 counters per register (tg_philox_rounds on tg_u32x16), else one at a time.
template <class T, int R>
static TG_INLINE void dropout_keep(const Drop& dr, int64_t bh, int64_t i, int64_t j0, int nl, T* __restrict Z) {
    alignas(64) uint32_t w0[BK], w1[BK], w2[BK], w3[BK];
    const uint64_t n0 = ((uint64_t)bh * (uint64_t)dr.groups + (uint64_t)(i / 4)) * (uint64_t)dr.Tk + (uint64_t)j0;
    const uint32_t c2 = (uint32_t)dr.offset, c3 = (uint32_t)(dr.offset >> 32);
    const uint32_t k0 = (uint32_t)dr.seed, k1 = (uint32_t)(dr.seed >> 32);
#ifdef TG_PHILOX_X16
    tg_u32x16 lane;
    for (int u = 0; u < 16; ++u) lane[u] = (uint32_t)u;
    for (int u = 0; u < nl; u += 16) {  // nl <= BK: the last group may fill lanes past nl, inside the buffers
        const uint64_t n = n0 + (uint64_t)u;
        tg_u32x16 a = (uint32_t)n + lane, b = tg_u32x16{} + (uint32_t)(n >> 32);
        b -= (tg_u32x16)(a < (uint32_t)n);  // carry into the high word (the comparison is -1 where true)
        tg_u32x16 c = tg_u32x16{} + c2, d = tg_u32x16{} + c3;
        tg_philox_rounds(a, b, c, d, k0, k1);
        std::memcpy(w0 + u, &a, 64), std::memcpy(w1 + u, &b, 64), std::memcpy(w2 + u, &c, 64);
        std::memcpy(w3 + u, &d, 64);
    }
#else
    for (int u = 0; u < nl; ++u) {
        const uint64_t n = n0 + (uint64_t)u;
        unsigned int o[4];
        tg_philox4x32_10((uint32_t)n, (uint32_t)(n >> 32), c2, c3, k0, k1, o);
        w0[u] = o[0], w1[u] = o[1], w2[u] = o[2], w3[u] = o[3];
    }
#endif
    const uint32_t* ws[4] = {w0, w1, w2, w3};
    const uint32_t thr = dr.thr;
    for (int r = 0; r < R; ++r) {
        const uint32_t* __restrict wr = ws[R == 4 ? r : (i + r) % 4];
        T* __restrict z = Z + r * BK;
#pragma omp simd
        for (int u = 0; u < nl; ++u) z[u] = (wr[u] >> 8) >= thr ? T(1) : T(0);
    }
}

// Kt[d*BK + j] = k[j * ld + d] for j < n, zero-padded to BK so the dot-product loops always run over BK lanes.
template <class T>
static TG_INLINE void load_transposed(const T* __restrict k, T* __restrict Kt, int n, int64_t D, int64_t ld) {
    for (int64_t d = 0; d < D; ++d) {
        T* row = Kt + d * BK;
        for (int j = 0; j < n; ++j) row[j] = k[j * ld + d];
        for (int j = n; j < BK; ++j) row[j] = T(0);
    }
}

// Register-blocked micro-kernels for R rows at once: every K^T (or V^T) vector and every row of X loaded is reused
// for R rows, and R x NV independent FMA chains hide the FMA latency (one row at a time, the O update of a D=32
// head had two dependent chains and ran at a quarter of the FMA throughput).
// S[r * BK + j] = a_r . Kt[:, j] for the first NV vectors of lanes; a_r = a + r * lda.
template <class T, int DC, int R, int NV>
static TG_INLINE void dot_rows_n(const T* __restrict a, int64_t lda, const T* __restrict Kt, T* __restrict S,
                                 int64_t Dr) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const int64_t D = DC > 0 ? DC : Dr;
    V acc[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) acc[r][u] = V{};
    for (int64_t d = 0; d < D; ++d) {
        V kv[NV];
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) kv[u] = vload(Kt + d * BK + u * W);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const T ad = a[r * lda + d];
#pragma GCC unroll 16
            for (int u = 0; u < NV; ++u) acc[r][u] += ad * kv[u];
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) vstore(S + r * BK + u * W, acc[r][u]);
}

// The last nv (< kBlockVecs) vectors of lanes.
template <class T, int DC, int R, int NV = kBlockVecs - 1>
static TG_INLINE void dot_rows_tail(const T* __restrict a, int64_t lda, const T* __restrict Kt, T* __restrict S,
                                   int64_t Dr, int nv) {
    if constexpr (NV > 0) {
        if (nv == NV) return dot_rows_n<T, DC, R, NV>(a, lda, Kt, S, Dr);
        dot_rows_tail<T, DC, R, NV - 1>(a, lda, Kt, S, Dr, nv);
    }
}

// Computes the first round_up(n, W) lanes (at least W) of R rows, in blocks of at most kBlockVecs vectors (one block
// of BK lanes with AVX-512, two with AVX2); returns that lane count.
template <class T, int DC, int R>
static TG_INLINE int dot_rows(const T* __restrict a, int64_t lda, const T* __restrict Kt, T* __restrict S, int64_t Dr,
                              int n) {
    constexpr int W = Vec<T>::N;
    const int nv = n > W ? (n + W - 1) / W : 1;
    int v = 0;
    for (; v + kBlockVecs <= nv; v += kBlockVecs) dot_rows_n<T, DC, R, kBlockVecs>(a, lda, Kt + v * W, S + v * W, Dr);
    if (v < nv) dot_rows_tail<T, DC, R>(a, lda, Kt + v * W, S + v * W, Dr, nv - v);
    return nv * W;
}

// One block of NV vectors of columns of update_rows: R x NV accumulators, each X vector loaded once for R rows.
template <class T, int R, int NV>
static TG_INLINE void update_block(T* __restrict O, int64_t ldo, const T* __restrict corr, const T* __restrict S,
                                   int64_t so, int64_t sj, const T* __restrict X, int64_t ldx, int n) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    V acc[R][NV];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) acc[r][u] = corr ? vload(O + r * ldo + u * W) * corr[r] : vload(O + r * ldo + u * W);
    for (int j = 0; j < n; ++j) {
        V xv[NV];
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) xv[u] = vload(X + j * ldx + u * W);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            const T c = S[r * so + j * sj];
#pragma GCC unroll 16
            for (int u = 0; u < NV; ++u) acc[r][u] += c * xv[u];
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) vstore(O + r * ldo + u * W, acc[r][u]);
}

// O[r] = corr[r] * O[r] + sum_{j<n} S[r * so + j * sj] * X[j * ldx + 0:D] for R rows of O (row stride ldo);
// corr == nullptr means 1. The forward's O update (S = P, X = V), and in the backward dq (S = dS, X = K) and,
// with S read transposed (so = 1, sj = BK), dv (S = P, X = dout) and dk (S = dS, X = q).
// Columns go in blocks of at most kBlockVecs vectors (R x kBlockVecs accumulators and kBlockVecs X vectors fit the
// registers: 4 of 64 bytes with AVX-512, 2 of 32 with AVX2),
// so any head size runs blocked: D = 128 is two blocks, D = 48 one block of 3; a D % W tail is scalar. (A
// row-at-a-time fallback for head sizes other than 16/32/64 ran 1.1-1.15x PyTorch's time at D = 48 and 128.)
template <class T, int DC, int R>
static TG_INLINE void update_rows(T* __restrict O, int64_t ldo, const T* __restrict corr, const T* __restrict S,
                                  int64_t so, int64_t sj, const T* __restrict X, int64_t ldx, int n, int64_t Dr) {
    constexpr int W = Vec<T>::N;
    const int64_t D = DC > 0 ? DC : Dr;
    int64_t c0 = 0;
    for (; c0 + kBlockVecs * W <= D; c0 += kBlockVecs * W)
        update_block<T, R, kBlockVecs>(O + c0, ldo, corr, S, so, sj, X + c0, ldx, n);
    switch ((D - c0) / W) {  // (fewer than kBlockVecs vectors left)
        case 3: update_block<T, R, 3>(O + c0, ldo, corr, S, so, sj, X + c0, ldx, n), c0 += 3 * W; break;
        case 2: update_block<T, R, 2>(O + c0, ldo, corr, S, so, sj, X + c0, ldx, n), c0 += 2 * W; break;
        case 1: update_block<T, R, 1>(O + c0, ldo, corr, S, so, sj, X + c0, ldx, n), c0 += W; break;
        default: break;
    }
    if (c0 == D) return;
    for (int r = 0; r < R; ++r) {
        T* __restrict o = O + r * ldo;
        if (corr) {
            for (int64_t d = c0; d < D; ++d) o[d] *= corr[r];
        }
        for (int j = 0; j < n; ++j) {
            const T c = S[r * so + j * sj];
            const T* __restrict x = X + j * ldx;
#pragma omp simd
            for (int64_t d = c0; d < D; ++d) o[d] += c * x[d];
        }
    }
}

// s[j] = j < nv ? scale * s[j] : -inf over nl lanes (a multiple of the vector width); returns their max.
// Explicit vector code: GCC compiled the `omp simd reduction(max)` form of this loop to a scalar maxss chain, a
// third of the forward's time at T = 64.
template <class T>
static TG_INLINE T scale_mask_max(T* __restrict s, int nl, int nv, T scale) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const V lane = lanes<T>(), ninf = V{} - INFINITY;
    V mx = ninf;
    for (int u = 0; u < nl; u += W) {
        V x = vload(s + u) * scale;
        x = lane + T(u) < T(nv) ? x : ninf;
        mx = mx > x ? mx : x;
        vstore(s + u, x);
    }
    return hreduce<T, true>(mx);
}

// s[j] = exp(s[j] - m) over nl lanes; returns their sum.
template <class T>
static TG_INLINE T exp_sum(T* __restrict s, int nl, T m) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    V sum = V{};
    for (int u = 0; u < nl; u += W) {
        const V e = vexp<T>(vload(s + u) - m);
        vstore(s + u, e);
        sum += e;
    }
    return hreduce<T, false>(sum);
}

}  // namespace tg
