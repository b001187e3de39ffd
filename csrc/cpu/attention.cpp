// Flash-style scaled dot-product attention, q: (B, H, Tq, D), k, v: (B, H, Tk, D); float32 or float64.
//
// s_ij = scale * q_i . k_j over visible j (causal: j <= i, PyTorch's top-left aligned is_causal)
// forward:  online softmax over key tiles of BK keys: per row keep running max m_i, sum l_i, and o_i;
//           a new tile rescales them by exp(m_old - m_new).
//           out_i = o_i / l_i;  lse_i = m_i + log(l_i)                                    written with `=`
// backward: delta_i = dout_i . out_i (computed first, once per (b, h));
//           P_ij = exp(s_ij - lse_i) recomputed per tile;  dS_ij = P_ij * (dout_i . v_j - delta_i) * scale
//           dv_j = sum_i P_ij dout_i;  dk_j = sum_i dS_ij q_i  (tile accumulators, then written with `=`)
//           dq_i = sum_j dS_ij k_j  (zeroed, then accumulated with `+=` over key tiles)
// No T x T matrix exists: each thread owns a transposed K/V tile (D x BK), a BQ x BK tile of P and dS, and
// (backward) delta for the Tq rows of its current (b, h); workspace is linear in T and reported by
// attention_workspace_bytes. Causal runs skip the key tiles above the diagonal.
// Inner products run over the BK keys of a transposed tile (contiguous, vectorizable, no horizontal sums);
// the updates of o, dq, dk, dv run over contiguous D. Accumulation is in the input type (f32 or f64).
#include "tg_common.h"

#include <atomic>

namespace tg {

constexpr int BK = 64;  // keys per tile: 4 AVX-512 float vectors, so a row of s stays in registers
constexpr int BQ = 32;  // query rows per backward block: P/dS tiles are BQ x BK
constexpr int QC = 64;  // query rows per forward task
constexpr int RF = 4;   // query rows per forward micro-kernel call (register blocking)

static std::atomic<int64_t> g_last_workspace{0};

template <class T>
static int64_t fwd_workspace_per_thread(int64_t D) { return (int64_t)sizeof(T) * (D * BK + QC); }
template <class T>
static int64_t bwd_workspace_per_thread(int64_t Tq, int64_t D) {
    return (int64_t)sizeof(T) * (2 * D * BK + 2 * BQ * BK + 2 * BK * D + Tq);
}

// Kt[d*BK + j] = k[j][d] for j < n, zero-padded to BK so the dot-product loops always run over BK lanes.
template <class T>
static TG_INLINE void load_transposed(const T* __restrict k, T* __restrict Kt, int n, int64_t D) {
    for (int64_t d = 0; d < D; ++d) {
        T* row = Kt + d * BK;
        for (int j = 0; j < n; ++j) row[j] = k[j * D + d];
        for (int j = n; j < BK; ++j) row[j] = T(0);
    }
}

// GCC vector types hold the accumulators of the two micro-kernels below: with plain arrays under
// `omp simd` GCC kept them on the stack (a store and a reload per FMA). 64-byte vectors are AVX-512 registers;
// without AVX-512, GCC splits them into pairs of AVX2 (or SSE) registers.
template <class T>
struct Vec {
    typedef T type __attribute__((vector_size(64)));
    static constexpr int N = 64 / sizeof(T);
};
template <class T>
static TG_INLINE typename Vec<T>::type vload(const T* p) {
    typename Vec<T>::type v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}
template <class T>
static TG_INLINE void vstore(T* p, typename Vec<T>::type v) { std::memcpy(p, &v, sizeof(v)); }

template <class T>
static TG_INLINE typename Vec<T>::type vexp(typename Vec<T>::type x) {
    if constexpr (sizeof(T) == 4) {
        typedef int32_t I __attribute__((vector_size(64)));
        return exp_approx_f32<typename Vec<T>::type, I>(x);
    } else {
        typedef int64_t I __attribute__((vector_size(64)));
        return exp_approx_f64<typename Vec<T>::type, I>(x);
    }
}

// {0, 1, ..., W-1}: lane numbers, to mask the lanes of a tile past its visible keys.
template <class T>
static TG_INLINE typename Vec<T>::type lanes() {
    typename Vec<T>::type v;
    for (int w = 0; w < Vec<T>::N; ++w) v[w] = T(w);
    return v;
}

// Horizontal max / sum as a tree (depth log2 W instead of a W-long dependent chain).
template <class T, bool MAX>
static TG_INLINE T hreduce(typename Vec<T>::type v) {
    alignas(64) T a[Vec<T>::N];
    vstore(a, v);
    for (int w = Vec<T>::N / 2; w > 0; w /= 2)
        for (int i = 0; i < w; ++i) a[i] = MAX ? std::max(a[i], a[i + w]) : a[i] + a[i + w];
    return a[0];
}

// s[j] = a . Kt[:, j] for all BK lanes (an outer-product sweep over d, so no horizontal sums).
// Only the first NV vectors of lanes are computed: causal diagonal tiles need just the visible keys.
template <class T, int DC, int NV>
static TG_INLINE void dot_tile_n(const T* __restrict a, const T* __restrict Kt, T* __restrict s, int64_t Dr) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const int64_t D = DC > 0 ? DC : Dr;
    V acc[NV];
#pragma GCC unroll 16
    for (int u = 0; u < NV; ++u) acc[u] = V{};
    for (int64_t d = 0; d < D; ++d) {
        const T ad = a[d];
        const T* kr = Kt + d * BK;
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) acc[u] += ad * vload(kr + u * W);
    }
#pragma GCC unroll 16
    for (int u = 0; u < NV; ++u) vstore(s + u * W, acc[u]);
}

// Computes s for the first nl = round_up(n, W) lanes; returns nl.
template <class T, int DC, int NV = BK / Vec<T>::N>
static TG_INLINE int dot_tile(const T* __restrict a, const T* __restrict Kt, T* __restrict s, int64_t Dr, int n) {
    if constexpr (NV > 1) {
        if (n <= (NV - 1) * Vec<T>::N) return dot_tile<T, DC, NV - 1>(a, Kt, s, Dr, n);
    }
    dot_tile_n<T, DC, NV>(a, Kt, s, Dr);
    return NV * Vec<T>::N;
}

// y[0:D] = y_scale * y[0:D] + sum_{r<n} c[r * cs] * X[r * ldx + 0:D]   (ACCUMULATE; else y = sum ...).
// With D known at compile time the row of y lives in registers for the whole sum.
template <class T, int DC, bool ACCUMULATE>
static TG_INLINE void gemv_t(T* __restrict y, const T* __restrict c, int64_t cs, const T* __restrict X, int64_t ldx,
                             int n, int64_t Dr, T y_scale = T(1)) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    if constexpr (DC > 0 && (DC % W) == 0) {
        constexpr int NV = DC / W;
        V acc[NV];
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) acc[u] = ACCUMULATE ? vload(y + u * W) * y_scale : V{};
        for (int r = 0; r < n; ++r) {
            const T cr = c[r * cs];
            const T* xr = X + r * ldx;
#pragma GCC unroll 16
            for (int u = 0; u < NV; ++u) acc[u] += cr * vload(xr + u * W);
        }
#pragma GCC unroll 16
        for (int u = 0; u < NV; ++u) vstore(y + u * W, acc[u]);
    } else {
        const int64_t D = DC > 0 ? DC : Dr;
        if (ACCUMULATE) {
#pragma omp simd
            for (int64_t d = 0; d < D; ++d) y[d] *= y_scale;
        } else {
            std::fill(y, y + D, T(0));
        }
        for (int r = 0; r < n; ++r) {
            const T cr = c[r * cs];
            const T* xr = X + r * ldx;
#pragma omp simd
            for (int64_t d = 0; d < D; ++d) y[d] += cr * xr[d];
        }
    }
}

// Register-blocked forms of the two micro-kernels for R query rows at once, used by the forward: every K^T and
// V vector loaded is reused for R rows, and R x NV independent FMA chains hide the FMA latency (one row at a time,
// the O update of a D=32 head had two dependent chains and ran at a quarter of the FMA throughput).
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

// Computes the first round_up(n, W) lanes of R rows; returns that lane count.
template <class T, int DC, int R, int NV = BK / Vec<T>::N>
static TG_INLINE int dot_rows(const T* __restrict a, int64_t lda, const T* __restrict Kt, T* __restrict S, int64_t Dr,
                              int n) {
    if constexpr (NV > 1) {
        if (n <= (NV - 1) * Vec<T>::N) return dot_rows<T, DC, R, NV - 1>(a, lda, Kt, S, Dr, n);
    }
    dot_rows_n<T, DC, R, NV>(a, lda, Kt, S, Dr);
    return NV * Vec<T>::N;
}

// O[r] = corr[r] * O[r] + sum_{j<n} S[r * so + j * sj] * X[j * D + 0:D] for R rows of O (row stride D);
// corr == nullptr means 1. The forward's O update (S = P, X = V), and in the backward dq (S = dS, X = K) and,
// with S read transposed (so = 1, sj = BK), dv (S = P, X = dout) and dk (S = dS, X = q).
template <class T, int DC, int R>
static TG_INLINE void update_rows(T* __restrict O, const T* __restrict corr, const T* __restrict S, int64_t so,
                                  int64_t sj, const T* __restrict X, int n, int64_t Dr) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    if constexpr (DC > 0 && (DC % W) == 0) {
        constexpr int NV = DC / W;
        V acc[R][NV];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
            for (int u = 0; u < NV; ++u) acc[r][u] = corr ? vload(O + r * DC + u * W) * corr[r] : vload(O + r * DC + u * W);
        for (int j = 0; j < n; ++j) {
            V xv[NV];
#pragma GCC unroll 16
            for (int u = 0; u < NV; ++u) xv[u] = vload(X + j * DC + u * W);
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
            for (int u = 0; u < NV; ++u) vstore(O + r * DC + u * W, acc[r][u]);
    } else {
        for (int r = 0; r < R; ++r)
            gemv_t<T, DC, true>(O + r * Dr, S + r * so, sj, X, Dr, n, Dr, corr ? corr[r] : T(1));
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

// One key tile for R consecutive query rows (row0 onward) of the online softmax: scores, running max / sum,
// then the rescaled O update. nvis[r] = keys of the tile row r sees (>= 1; nondecreasing in r).
template <class T, int DC, int R>
static TG_INLINE void forward_rows(const T* __restrict qrows, const T* __restrict Kt, const T* __restrict Vr,
                                   T* __restrict orows, T* __restrict m, T* __restrict l, const int* nvis,
                                   T* __restrict S, int64_t D, T scale) {
    const int nmax = nvis[R - 1];
    const int nl = dot_rows<T, DC, R>(qrows, D, Kt, S, D, nmax);
    alignas(64) T corr[R];
    for (int r = 0; r < R; ++r) {
        T* s = S + r * BK;
        const int nv = nvis[r];
        const T mnew = std::max(m[r], scale_mask_max(s, nl, nv, scale));
        const T sum = exp_sum(s, nl, mnew);  // masked lanes: exp(-inf) = 0
        corr[r] = exp_approx(m[r] - mnew);  // 0 on the first tile (m = -inf)
        l[r] = l[r] * corr[r] + sum;
        m[r] = mnew;
    }
    update_rows<T, DC, R>(orows, corr, S, BK, 1, Vr, nmax, D);
}

template <class T, int DC>
static void attention_forward_impl(const T* q, const T* k, const T* v, T* out, T* lse, int64_t BH, int64_t Tq,
                                   int64_t Tk, int64_t Dr, bool causal, T scale) {
    const int64_t D = DC > 0 ? DC : Dr;
    const int64_t nchunk = (Tq + QC - 1) / QC;
    const int64_t ntask = BH * nchunk;
    const int nt = (int)std::min<int64_t>(threads_for(BH * Tq * Tk * D / 8), ntask);
    g_last_workspace = nt * fwd_workspace_per_thread<T>(D);
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> buf(D * BK + QC);
        T* Kt = buf.data();
        T* l = Kt + D * BK;  // running softmax denominators of this chunk's rows; the running max lives in lse
        alignas(64) T S[RF * BK];
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < ntask; ++task) {
            const int64_t bh = task / nchunk;
            const int64_t i0 = (task % nchunk) * QC, i1 = std::min(Tq, i0 + QC);
            const T* qb = q + bh * Tq * D;
            const T* kb = k + bh * Tk * D;
            const T* vb = v + bh * Tk * D;
            T* ob = out + bh * Tq * D;
            T* mb = lse + bh * Tq;
            std::fill(ob + i0 * D, ob + i1 * D, T(0));
            for (int64_t i = i0; i < i1; ++i) mb[i] = -INFINITY, l[i - i0] = T(0);
            const int64_t jend = causal ? std::min(Tk, i1) : Tk;
            for (int64_t j0 = 0; j0 < jend; j0 += BK) {
                const int bk = (int)std::min<int64_t>(BK, Tk - j0);
                load_transposed(kb + j0 * D, Kt, bk, D);
                const T* vt = vb + j0 * D;
                int nvis[RF];
                int64_t i = causal ? std::max(i0, j0) : i0;
                for (; i < i1; i += RF) {
                    const int nr = (int)std::min<int64_t>(RF, i1 - i);
                    for (int r = 0; r < nr; ++r) nvis[r] = causal ? (int)std::min<int64_t>(bk, i + r - j0 + 1) : bk;
                    if (nr == RF) {
                        forward_rows<T, DC, RF>(qb + i * D, Kt, vt, ob + i * D, mb + i, l + (i - i0), nvis, S, D,
                                                scale);
                    } else {
                        for (int r = 0; r < nr; ++r)
                            forward_rows<T, DC, 1>(qb + (i + r) * D, Kt, vt, ob + (i + r) * D, mb + i + r,
                                                   l + (i + r - i0), nvis + r, S, D, scale);
                    }
                }
            }
            for (int64_t i = i0; i < i1; ++i) {
                const T li = l[i - i0];
                const T inv = T(1) / li;
                T* oi = ob + i * D;
#pragma omp simd
                for (int64_t d = 0; d < D; ++d) oi[d] *= inv;
                mb[i] = mb[i] + std::log(li);
            }
        }
    }
}

// Backward for R consecutive query rows (i0 onward) of a block against one key tile: P and dS rows (lanes past
// the visible keys zeroed, so the dv/dk sweep may read whole tile columns), then dq += dS K for the rows.
template <class T, int DC, int R>
static TG_INLINE void backward_rows(const T* __restrict qrows, const T* __restrict grows, const T* __restrict Kt,
                                    const T* __restrict Vt, const T* __restrict krows, const T* __restrict lse,
                                    const T* __restrict delta, T* __restrict dqrows, T* __restrict P,
                                    T* __restrict dS, T* __restrict dp, const int* nvis, int64_t D, T scale) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const int nmax = nvis[R - 1];
    const int nl = dot_rows<T, DC, R>(qrows, D, Kt, P, D, nmax);
    dot_rows<T, DC, R>(grows, D, Vt, dp, D, nmax);
    const V lane = lanes<T>();
    for (int r = 0; r < R; ++r) {
        T* Pr = P + r * BK;
        T* dSr = dS + r * BK;
        const T* dpr = dp + r * BK;
        const T li = lse[r], di = delta[r];
        for (int u = 0; u < nl; u += W) {
            V p = vexp<T>(vload(Pr + u) * scale - li);
            p = lane + T(u) < T(nvis[r]) ? p : V{};
            vstore(Pr + u, p);
            vstore(dSr + u, p * (vload(dpr + u) - di) * scale);
        }
        std::fill(Pr + nl, Pr + BK, T(0));
        std::fill(dSr + nl, dSr + BK, T(0));
    }
    update_rows<T, DC, R>(dqrows, nullptr, dS, BK, 1, krows, nmax, D);
}

template <class T, int DC>
static void attention_backward_impl(const T* dout, const T* q, const T* k, const T* v, const T* out, const T* lse,
                                    T* dq, T* dk, T* dv, int64_t BH, int64_t Tq, int64_t Tk, int64_t Dr, bool causal,
                                    T scale) {
    const int64_t D = DC > 0 ? DC : Dr;
    // Parallel over (b, h): dk and dv of a head are then owned by one thread and need no atomics.
    const int nt = (int)std::min<int64_t>(threads_for(BH * Tq * Tk * D / 8), BH);
    g_last_workspace = nt * bwd_workspace_per_thread<T>(Tq, D);
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> buf(2 * D * BK + 2 * BQ * BK + 2 * BK * D + Tq);
        T* Kt = buf.data();
        T* Vt = Kt + D * BK;
        T* P = Vt + D * BK;       // BQ x BK
        T* dS = P + BQ * BK;      // BQ x BK
        T* dKa = dS + BQ * BK;    // BK x D
        T* dVa = dKa + BK * D;    // BK x D
        T* delta = dVa + BK * D;  // Tq
        alignas(64) T dp[RF * BK];
#pragma omp for schedule(dynamic, 1)
        for (int64_t bh = 0; bh < BH; ++bh) {
            const T* qb = q + bh * Tq * D;
            const T* kb = k + bh * Tk * D;
            const T* vb = v + bh * Tk * D;
            const T* ob = out + bh * Tq * D;
            const T* gb = dout + bh * Tq * D;
            const T* lb = lse + bh * Tq;
            T* dqb = dq + bh * Tq * D;
            T* dkb = dk + bh * Tk * D;
            T* dvb = dv + bh * Tk * D;
            for (int64_t i = 0; i < Tq; ++i) {
                T sdo = 0;
#pragma omp simd reduction(+ : sdo)
                for (int64_t d = 0; d < D; ++d) sdo += gb[i * D + d] * ob[i * D + d];
                delta[i] = sdo;
            }
            std::fill(dqb, dqb + Tq * D, T(0));
            for (int64_t j0 = 0; j0 < Tk; j0 += BK) {
                const int bk = (int)std::min<int64_t>(BK, Tk - j0);
                load_transposed(kb + j0 * D, Kt, bk, D);
                load_transposed(vb + j0 * D, Vt, bk, D);
                const T* kt = kb + j0 * D;
                std::fill(dKa, dKa + 2 * BK * D, T(0));
                // Causal: rows i < j0 see none of these keys.
                for (int64_t ib = causal ? std::min(j0, Tq) : 0; ib < Tq; ib += BQ) {
                    const int nb = (int)std::min<int64_t>(BQ, Tq - ib);
                    int nvis[RF];
                    for (int r = 0; r < nb; r += RF) {
                        const int nr = std::min(RF, nb - r);
                        const int64_t i = ib + r;
                        for (int rr = 0; rr < nr; ++rr)
                            nvis[rr] = causal ? (int)std::min<int64_t>(bk, i + rr - j0 + 1) : bk;
                        if (nr == RF) {
                            backward_rows<T, DC, RF>(qb + i * D, gb + i * D, Kt, Vt, kt, lb + i, delta + i, dqb + i * D,
                                                     P + r * BK, dS + r * BK, dp, nvis, D, scale);
                        } else {
                            for (int rr = 0; rr < nr; ++rr)
                                backward_rows<T, DC, 1>(qb + (i + rr) * D, gb + (i + rr) * D, Kt, Vt, kt, lb + i + rr,
                                                        delta + i + rr, dqb + (i + rr) * D, P + (r + rr) * BK,
                                                        dS + (r + rr) * BK, dp, nvis + rr, D, scale);
                        }
                    }
                    // dv_j += sum_r P_rj dout_r, dk_j += sum_r dS_rj q_r over the block of rows, RF keys at a time.
                    for (int j = 0; j < bk; j += RF) {
                        const int nj = std::min(RF, bk - j);
                        // Causal: rows ib + r < j0 + j see none of keys j.. (their P and dS are zero anyway).
                        const int r0 = causal ? (int)std::min<int64_t>(nb, std::max<int64_t>(0, j0 + j - ib)) : 0;
                        const T* Pj = P + r0 * BK + j;
                        const T* dSj = dS + r0 * BK + j;
                        const T* gr = gb + (ib + r0) * D;
                        const T* qr = qb + (ib + r0) * D;
                        if (nj == RF) {
                            update_rows<T, DC, RF>(dVa + j * D, nullptr, Pj, 1, BK, gr, nb - r0, D);
                            update_rows<T, DC, RF>(dKa + j * D, nullptr, dSj, 1, BK, qr, nb - r0, D);
                        } else {
                            for (int jj = 0; jj < nj; ++jj) {
                                update_rows<T, DC, 1>(dVa + (j + jj) * D, nullptr, Pj + jj, 1, BK, gr, nb - r0, D);
                                update_rows<T, DC, 1>(dKa + (j + jj) * D, nullptr, dSj + jj, 1, BK, qr, nb - r0, D);
                            }
                        }
                    }
                }
                std::copy(dKa, dKa + bk * D, dkb + j0 * D);
                std::copy(dVa, dVa + bk * D, dvb + j0 * D);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
static py::tuple attention_forward(py::array q, py::array k, py::array v, bool causal, double scale) {
    const char* K = "attention_forward";
    const DType dt = dtype_of(q, K, "q");
    check(q, K, "q", {-1, -1, -1, -1});
    const int64_t B = q.shape(0), H = q.shape(1), Tq = q.shape(2), D = q.shape(3);
    check(k, K, "k", {B, H, -1, D});
    const int64_t Tk = k.shape(2);
    check(v, K, "v", {B, H, Tk, D});
    check_same_dtype(k, q, K, "k", "q");
    check_same_dtype(v, q, K, "v", "q");
    if (Tk < 1 && Tq > 0) fail(K, "k must hold at least one key, got " + describe(k));
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto out = empty<T>({B, H, Tq, D});
        auto lse = empty<T>({B, H, Tq});
        {
            py::gil_scoped_release nogil;
            auto fn = D == 32 ? attention_forward_impl<T, 32>
                    : D == 64 ? attention_forward_impl<T, 64>
                    : D == 16 ? attention_forward_impl<T, 16>
                              : attention_forward_impl<T, 0>;
            fn(cptr<T>(q), cptr<T>(k), cptr<T>(v), out.mutable_data(), lse.mutable_data(), B * H, Tq, Tk, D, causal,
               T(scale));
        }
        return py::make_tuple(out, lse);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple attention_backward(py::array dout, py::array q, py::array k, py::array v, py::array out,
                                    py::array lse, bool causal, double scale) {
    const char* K = "attention_backward";
    const DType dt = dtype_of(q, K, "q");
    check(q, K, "q", {-1, -1, -1, -1});
    const int64_t B = q.shape(0), H = q.shape(1), Tq = q.shape(2), D = q.shape(3);
    check(k, K, "k", {B, H, -1, D});
    const int64_t Tk = k.shape(2);
    check(v, K, "v", {B, H, Tk, D});
    check(out, K, "out", {B, H, Tq, D});
    check(dout, K, "dout", {B, H, Tq, D});
    check(lse, K, "lse", {B, H, Tq});
    check_same_dtype(k, q, K, "k", "q");
    check_same_dtype(v, q, K, "v", "q");
    check_same_dtype(out, q, K, "out", "q");
    check_same_dtype(dout, q, K, "dout", "q");
    check_same_dtype(lse, q, K, "lse", "q");
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto dq = empty<T>({B, H, Tq, D});
        auto dk = empty<T>({B, H, Tk, D});
        auto dv = empty<T>({B, H, Tk, D});
        {
            py::gil_scoped_release nogil;
            auto fn = D == 32 ? attention_backward_impl<T, 32>
                    : D == 64 ? attention_backward_impl<T, 64>
                    : D == 16 ? attention_backward_impl<T, 16>
                              : attention_backward_impl<T, 0>;
            fn(cptr<T>(dout), cptr<T>(q), cptr<T>(k), cptr<T>(v), cptr<T>(out), cptr<T>(lse), dq.mutable_data(),
               dk.mutable_data(), dv.mutable_data(), B * H, Tq, Tk, D, causal, T(scale));
        }
        return py::make_tuple(dq, dk, dv);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

// Bytes of workspace (tile buffers, delta) the kernels allocate for these sizes with the current thread count;
// everything else they allocate is their outputs. Independent of T for forward, linear in Tq for backward.
static int64_t attention_workspace_bytes(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, int64_t itemsize,
                                         bool backward) {
    const int64_t work = B * H * Tq * Tk * D / 8;
    if (backward) {
        const int64_t nt = std::min<int64_t>(threads_for(work), B * H);
        return nt * (itemsize == 8 ? bwd_workspace_per_thread<double>(Tq, D) : bwd_workspace_per_thread<float>(Tq, D));
    }
    const int64_t nt = std::min<int64_t>(threads_for(work), B * H * ((Tq + QC - 1) / QC));
    return nt * (itemsize == 8 ? fwd_workspace_per_thread<double>(D) : fwd_workspace_per_thread<float>(D));
}

void register_attention(py::module_& m) {
    m.def("attention_forward", &attention_forward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal"),
          py::arg("scale"), "Flash-style attention forward: returns (out, lse).");
    m.def("attention_backward", &attention_backward, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"),
          py::arg("out"), py::arg("lse"), py::arg("causal"), py::arg("scale"),
          "Flash-style attention backward (recomputes P per tile from lse): returns (dq, dk, dv).");
    m.def("attention_workspace_bytes", &attention_workspace_bytes, py::arg("B"), py::arg("H"), py::arg("Tq"),
          py::arg("Tk"), py::arg("D"), py::arg("itemsize"), py::arg("backward") = true,
          "Workspace bytes the attention kernel allocates for these sizes (excluding its outputs).");
    m.def("attention_last_workspace_bytes", []() { return g_last_workspace.load(); },
          "Workspace bytes allocated by the most recent attention_forward/backward call.");
}

}  // namespace tg
