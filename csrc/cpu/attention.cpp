// Flash-style scaled dot-product attention, q: (B, H, Tq, D), k, v: (B, H, Tk, D); float32 or float64. The
// *_packed entry points run the same kernels on the GPT layouts in place: qkv (B, T, 3C), out / dout (B, T, C).
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
//
// Dropout p > 0 (torch's: on the softmax probabilities, before P V): Z_ij = keep_ij / (1 - p), keep_ij drawn from
// Philox at (seed, offset, element) as csrc/common/philox.h defines, for 4 rows x 64 keys at a time, in forward
// and again in backward (never stored).
// forward:  l_i sums the undropped exp (lse is unchanged); o_i accumulates keep_ij exp(s_ij - m_i) v_j;
//           out_i = o_i / ((1 - p) l_i)
// backward: with Pd = P o Z, out = Pd V: dv_j = sum_i Pd_ij dout_i; dS_ij = P_ij (Z_ij dout_i . v_j - delta_i)
//           scale, where delta_i = dout_i . out_i as without dropout (sum_j dPd_ij Pd_ij = dout_i . out_i).
// p = 0 runs the kernels compiled without any of this (template flag DROP), so results and speed are unchanged.
#include "attention_tiles.h"

#include <atomic>
#include <type_traits>

namespace tg {

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

// Where the rows of each (b, h) head of a tensor live: head bh starts at p + (bh / H) * sb + (bh % H) * sh and
// its rows are st elements apart. A (B, H, T, D) array has sb = H T D, sh = T D, st = D; the packed GPT layouts
// (B, T, 3C) for q|k|v and (B, T, C) for the merged output hold head h at column h D of every row, so there
// sb = T * row, sh = D, st = row, and the kernels read and write them in place, without split or merge copies.
template <class T>
struct Heads {
    T* p;
    int64_t sb, sh, st;
    TG_INLINE T* at(int64_t bh, int64_t H) const { return p + (bh / H) * sb + (bh % H) * sh; }
};

// Scheduling: threads grab whole batch rows b (all heads and chunks of one b) when the rows split evenly over the
// threads or are many (at least 4 per thread, for the dynamic schedule to balance). In the packed layouts the heads of one row are neighbours in memory and a head's D values need
// not start on a cache line, so two threads on heads h and h + 1 of the same rows wrote to shared lines (false
// sharing: the packed backward ran slower on 2 threads than on 1 when tasks were handed out one head at a time),
// and one thread doing the heads of a row in turn also reuses the lines the hardware prefetched for it.
static TG_INLINE int64_t grab_size(int64_t B, int64_t per_row, int nt) {
    return B % nt == 0 || B >= 4 * nt ? per_row : 1;
}

// DROP: rows i.. of head bh against keys j0..; their dropped probabilities are zeroed after the sum (l keeps them).
template <class T, int DC, int R, bool DROP>
static TG_INLINE void forward_rows(const T* __restrict qrows, int64_t ldq, const T* __restrict Kt,
                                   const T* __restrict Vr, int64_t ldv, T* __restrict orows, int64_t ldo,
                                   T* __restrict m, T* __restrict l, const int* nvis, T* __restrict S, int64_t D,
                                   T scale, const Drop& dr, int64_t bh, int64_t i, int64_t j0) {
    const int nmax = nvis[R - 1];
    const int nl = dot_rows<T, DC, R>(qrows, ldq, Kt, S, D, nmax);
    alignas(64) T corr[R];
    alignas(64) T Z[DROP ? R * BK : 1];
    if constexpr (DROP) dropout_keep<T, R>(dr, bh, i, j0, nl, Z);
    for (int r = 0; r < R; ++r) {
        T* s = S + r * BK;
        const int nv = nvis[r];
        const T mnew = std::max(m[r], scale_mask_max(s, nl, nv, scale));
        const T sum = exp_sum(s, nl, mnew);  // masked lanes: exp(-inf) = 0
        if constexpr (DROP) {
            const T* __restrict z = Z + r * BK;
#pragma omp simd
            for (int u = 0; u < nl; ++u) s[u] *= z[u];
        }
        corr[r] = exp_approx(m[r] - mnew);  // 0 on the first tile (m = -inf)
        l[r] = l[r] * corr[r] + sum;
        m[r] = mnew;
    }
    update_rows<T, DC, R>(orows, ldo, corr, S, BK, 1, Vr, ldv, nmax, D);
}

template <class T, int DC, bool DROP>
static void attention_forward_impl(Heads<const T> q, Heads<const T> k, Heads<const T> v, Heads<T> out, T* lse,
                                   int64_t H, int64_t BH, int64_t Tq, int64_t Tk, int64_t Dr, bool causal, T scale,
                                   const Drop& dr) {
    const int64_t D = DC > 0 ? DC : Dr;
    const int64_t ldq = q.st, ldk = k.st, ldv = v.st, ldo = out.st;
    const int64_t nchunk = (Tq + QC - 1) / QC;
    const int64_t ntask = BH * nchunk;
    const int nt = (int)std::min<int64_t>(threads_for(BH * Tq * Tk * D / 8), ntask);
    const int64_t grab = grab_size(BH / H, H * nchunk, nt);
    g_last_workspace = nt * fwd_workspace_per_thread<T>(D);
#pragma omp parallel num_threads(nt)
    {
        std::vector<T> buf(D * BK + QC);
        T* Kt = buf.data();
        T* l = Kt + D * BK;  // running softmax denominators of this chunk's rows; the running max lives in lse
        alignas(64) T S[RF * BK];
#pragma omp for schedule(dynamic, grab)
        for (int64_t task = 0; task < ntask; ++task) {
            const int64_t bh = task / nchunk;
            const int64_t i0 = (task % nchunk) * QC, i1 = std::min(Tq, i0 + QC);
            const T* qb = q.at(bh, H);
            const T* kb = k.at(bh, H);
            const T* vb = v.at(bh, H);
            T* ob = out.at(bh, H);
            T* mb = lse + bh * Tq;
            for (int64_t i = i0; i < i1; ++i) {
                std::fill(ob + i * ldo, ob + i * ldo + D, T(0));
                mb[i] = -INFINITY, l[i - i0] = T(0);
            }
            const int64_t jend = causal ? std::min(Tk, i1) : Tk;
            for (int64_t j0 = 0; j0 < jend; j0 += BK) {
                const int bk = (int)std::min<int64_t>(BK, Tk - j0);
                load_transposed(kb + j0 * ldk, Kt, bk, D, ldk);
                const T* vt = vb + j0 * ldv;
                int nvis[RF];
                int64_t i = causal ? std::max(i0, j0) : i0;
                for (; i < i1; i += RF) {
                    const int nr = (int)std::min<int64_t>(RF, i1 - i);
                    for (int r = 0; r < nr; ++r) nvis[r] = causal ? (int)std::min<int64_t>(bk, i + r - j0 + 1) : bk;
                    if (nr == RF) {
                        forward_rows<T, DC, RF, DROP>(qb + i * ldq, ldq, Kt, vt, ldv, ob + i * ldo, ldo, mb + i,
                                                      l + (i - i0), nvis, S, D, scale, dr, bh, i, j0);
                    } else {
                        for (int r = 0; r < nr; ++r)
                            forward_rows<T, DC, 1, DROP>(qb + (i + r) * ldq, ldq, Kt, vt, ldv, ob + (i + r) * ldo,
                                                         ldo, mb + i + r, l + (i + r - i0), nvis + r, S, D, scale, dr,
                                                         bh, i + r, j0);
                    }
                }
            }
            for (int64_t i = i0; i < i1; ++i) {
                const T li = l[i - i0];
                const T inv = DROP ? T(dr.keep_scale) / li : T(1) / li;
                T* oi = ob + i * ldo;
#pragma omp simd
                for (int64_t d = 0; d < D; ++d) oi[d] *= inv;
                mb[i] = mb[i] + std::log(li);
            }
        }
    }
}

// Backward for R consecutive query rows (i0 onward) of a block against one key tile: P and dS rows (lanes past
// the visible keys zeroed, so the dv/dk sweep may read whole tile columns), then dq += dS K for the rows.
// DROP: the P tile holds Pd = P o Z (for dv), dS = P (Z dp - delta) scale.
template <class T, int DC, int R, bool DROP>
static TG_INLINE void backward_rows(const T* __restrict qrows, int64_t ldq, const T* __restrict grows, int64_t ldg,
                                    const T* __restrict Kt, const T* __restrict Vt, const T* __restrict krows,
                                    int64_t ldk, const T* __restrict lse, const T* __restrict delta,
                                    T* __restrict dqrows, int64_t lddq, T* __restrict P, T* __restrict dS,
                                    T* __restrict dp, const int* nvis, int64_t D, T scale, const Drop& dr,
                                    int64_t bh, int64_t i, int64_t j0) {
    using V = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const int nmax = nvis[R - 1];
    const int nl = dot_rows<T, DC, R>(qrows, ldq, Kt, P, D, nmax);
    dot_rows<T, DC, R>(grows, ldg, Vt, dp, D, nmax);
    alignas(64) T Z[DROP ? R * BK : 1];
    if constexpr (DROP) dropout_keep<T, R>(dr, bh, i, j0, nl, Z);
    const T ks = T(dr.keep_scale);
    const V lane = lanes<T>();
    for (int r = 0; r < R; ++r) {
        T* Pr = P + r * BK;
        T* dSr = dS + r * BK;
        const T* dpr = dp + r * BK;
        const T li = lse[r], di = delta[r];
        for (int u = 0; u < nl; u += W) {
            V p = vexp<T>(vload(Pr + u) * scale - li);
            p = lane + T(u) < T(nvis[r]) ? p : V{};
            if constexpr (DROP) {
                const V z = vload(Z + r * BK + u) * ks;
                vstore(Pr + u, p * z);
                vstore(dSr + u, p * (z * vload(dpr + u) - di) * scale);
            } else {
                vstore(Pr + u, p);
                vstore(dSr + u, p * (vload(dpr + u) - di) * scale);
            }
        }
        std::fill(Pr + nl, Pr + BK, T(0));
        std::fill(dSr + nl, dSr + BK, T(0));
    }
    update_rows<T, DC, R>(dqrows, lddq, nullptr, dS, BK, 1, krows, ldk, nmax, D);
}

template <class T, int DC, bool DROP>
static void attention_backward_impl(Heads<const T> dout, Heads<const T> q, Heads<const T> k, Heads<const T> v,
                                    Heads<const T> out, const T* lse, Heads<T> dq, Heads<T> dk, Heads<T> dv, int64_t H,
                                    int64_t BH, int64_t Tq, int64_t Tk, int64_t Dr, bool causal, T scale,
                                    const Drop& dr) {
    const int64_t D = DC > 0 ? DC : Dr;
    const int64_t ldg = dout.st, ldq = q.st, ldk = k.st, ldv = v.st, ldo = out.st;
    const int64_t lddq = dq.st, lddk = dk.st, lddv = dv.st;
    // Parallel over (b, h): dk and dv of a head are then owned by one thread and need no atomics.
    const int nt = (int)std::min<int64_t>(threads_for(BH * Tq * Tk * D / 8), BH);
    const int64_t grab = grab_size(BH / H, H, nt);
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
#pragma omp for schedule(dynamic, grab)
        for (int64_t bh = 0; bh < BH; ++bh) {
            const T* qb = q.at(bh, H);
            const T* kb = k.at(bh, H);
            const T* vb = v.at(bh, H);
            const T* ob = out.at(bh, H);
            const T* gb = dout.at(bh, H);
            const T* lb = lse + bh * Tq;
            T* dqb = dq.at(bh, H);
            T* dkb = dk.at(bh, H);
            T* dvb = dv.at(bh, H);
            for (int64_t i = 0; i < Tq; ++i) {
                T sdo = 0;
#pragma omp simd reduction(+ : sdo)
                for (int64_t d = 0; d < D; ++d) sdo += gb[i * ldg + d] * ob[i * ldo + d];
                delta[i] = sdo;
                std::fill(dqb + i * lddq, dqb + i * lddq + D, T(0));
            }
            for (int64_t j0 = 0; j0 < Tk; j0 += BK) {
                const int bk = (int)std::min<int64_t>(BK, Tk - j0);
                load_transposed(kb + j0 * ldk, Kt, bk, D, ldk);
                load_transposed(vb + j0 * ldv, Vt, bk, D, ldv);
                const T* kt = kb + j0 * ldk;
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
                            backward_rows<T, DC, RF, DROP>(qb + i * ldq, ldq, gb + i * ldg, ldg, Kt, Vt, kt, ldk,
                                                           lb + i, delta + i, dqb + i * lddq, lddq, P + r * BK,
                                                           dS + r * BK, dp, nvis, D, scale, dr, bh, i, j0);
                        } else {
                            for (int rr = 0; rr < nr; ++rr)
                                backward_rows<T, DC, 1, DROP>(qb + (i + rr) * ldq, ldq, gb + (i + rr) * ldg, ldg, Kt,
                                                              Vt, kt, ldk, lb + i + rr, delta + i + rr,
                                                              dqb + (i + rr) * lddq, lddq, P + (r + rr) * BK,
                                                              dS + (r + rr) * BK, dp, nvis + rr, D, scale, dr, bh,
                                                              i + rr, j0);
                        }
                    }
                    // dv_j += sum_r P_rj dout_r, dk_j += sum_r dS_rj q_r over the block of rows, RF keys at a time.
                    for (int j = 0; j < bk; j += RF) {
                        const int nj = std::min(RF, bk - j);
                        // Causal: rows ib + r < j0 + j see none of keys j.. (their P and dS are zero anyway).
                        const int r0 = causal ? (int)std::min<int64_t>(nb, std::max<int64_t>(0, j0 + j - ib)) : 0;
                        const T* Pj = P + r0 * BK + j;
                        const T* dSj = dS + r0 * BK + j;
                        const T* gr = gb + (ib + r0) * ldg;
                        const T* qr = qb + (ib + r0) * ldq;
                        if (nj == RF) {
                            update_rows<T, DC, RF>(dVa + j * D, D, nullptr, Pj, 1, BK, gr, ldg, nb - r0, D);
                            update_rows<T, DC, RF>(dKa + j * D, D, nullptr, dSj, 1, BK, qr, ldq, nb - r0, D);
                        } else {
                            for (int jj = 0; jj < nj; ++jj) {
                                update_rows<T, DC, 1>(dVa + (j + jj) * D, D, nullptr, Pj + jj, 1, BK, gr, ldg, nb - r0,
                                                      D);
                                update_rows<T, DC, 1>(dKa + (j + jj) * D, D, nullptr, dSj + jj, 1, BK, qr, ldq, nb - r0,
                                                      D);
                            }
                        }
                    }
                }
                for (int j = 0; j < bk; ++j) {
                    std::copy(dKa + j * D, dKa + (j + 1) * D, dkb + (j0 + j) * lddk);
                    std::copy(dVa + j * D, dVa + (j + 1) * D, dvb + (j0 + j) * lddv);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
template <class T>
static Heads<T> bhtd(T* p, int64_t H, int64_t T_, int64_t D) { return {p, H * T_ * D, T_ * D, D}; }

// Head-dim dispatch: compile-time D for the common head sizes keeps the rows of O, dq, dk, dv in registers.
// pick(std::integral_constant<int, DC>) returns the kernel for DC; DC = 0 serves every other D at run time.
template <class Pick>
static auto by_head_dim(int64_t D, Pick pick) {
    return D == 32    ? pick(std::integral_constant<int, 32>{})
           : D == 64  ? pick(std::integral_constant<int, 64>{})
           : D == 128 ? pick(std::integral_constant<int, 128>{})
           : D == 16  ? pick(std::integral_constant<int, 16>{})
                      : pick(std::integral_constant<int, 0>{});
}

template <class T>
static auto forward_for(int64_t D, bool drop) {
    return by_head_dim(D, [drop](auto dc) {
        return drop ? attention_forward_impl<T, decltype(dc)::value, true>
                    : attention_forward_impl<T, decltype(dc)::value, false>;
    });
}

template <class T>
static auto backward_for(int64_t D, bool drop) {
    return by_head_dim(D, [drop](auto dc) {
        return drop ? attention_backward_impl<T, decltype(dc)::value, true>
                    : attention_backward_impl<T, decltype(dc)::value, false>;
    });
}

// Dropout arguments of every entry point: p in [0, 1], the Philox key and offset (tensorgrad.random hands them out).
static Drop make_drop(const char* K, double p, uint64_t seed, uint64_t offset, int64_t Tq, int64_t Tk) {
    if (!(p >= 0.0 && p <= 1.0)) fail(K, "dropout_p must be in [0, 1], got " + std::to_string(p));
    Drop dr;
    dr.seed = seed, dr.offset = offset;
    dr.thr = tg_dropout_threshold(p);
    dr.groups = (Tq + 3) / 4, dr.Tk = Tk;
    dr.keep_scale = tg_dropout_keep_scale(p);
    return dr;
}

static py::tuple attention_forward(py::array q, py::array k, py::array v, bool causal, double scale, double dropout_p,
                                   uint64_t seed, uint64_t offset) {
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
    const Drop dr = make_drop(K, dropout_p, seed, offset, Tq, Tk);
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto out = empty<T>({B, H, Tq, D});
        auto lse = empty<T>({B, H, Tq});
        {
            py::gil_scoped_release nogil;
            forward_for<T>(D, dropout_p > 0)(bhtd(cptr<T>(q), H, Tq, D), bhtd(cptr<T>(k), H, Tk, D),
                                             bhtd(cptr<T>(v), H, Tk, D), bhtd(out.mutable_data(), H, Tq, D),
                                             lse.mutable_data(), H, B * H, Tq, Tk, D, causal, T(scale), dr);
        }
        return py::make_tuple(out, lse);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple attention_backward(py::array dout, py::array q, py::array k, py::array v, py::array out,
                                    py::array lse, bool causal, double scale, double dropout_p, uint64_t seed,
                                    uint64_t offset) {
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
    const Drop dr = make_drop(K, dropout_p, seed, offset, Tq, Tk);
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto dq = empty<T>({B, H, Tq, D});
        auto dk = empty<T>({B, H, Tk, D});
        auto dv = empty<T>({B, H, Tk, D});
        {
            py::gil_scoped_release nogil;
            backward_for<T>(D, dropout_p > 0)(bhtd(cptr<T>(dout), H, Tq, D), bhtd(cptr<T>(q), H, Tq, D),
                                              bhtd(cptr<T>(k), H, Tk, D), bhtd(cptr<T>(v), H, Tk, D),
                                              bhtd(cptr<T>(out), H, Tq, D), cptr<T>(lse),
                                              bhtd(dq.mutable_data(), H, Tq, D), bhtd(dk.mutable_data(), H, Tk, D),
                                              bhtd(dv.mutable_data(), H, Tk, D), H, B * H, Tq, Tk, D, causal,
                                              T(scale), dr);
        }
        return py::make_tuple(dq, dk, dv);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

// The packed forms take the GPT layouts directly: qkv (B, T, 3C) = [q | k | v] with C = n_head * D, and the
// merged (B, T, C) output / its grad. lse stays (B, n_head, T). Same kernels, strided head views.
static int64_t packed_dims(const py::array& qkv, int64_t n_head, const char* K, int64_t& B, int64_t& T_,
                           int64_t& C) {
    check(qkv, K, "qkv", {-1, -1, -1});
    B = qkv.shape(0), T_ = qkv.shape(1);
    const int64_t C3 = qkv.shape(2);
    if (n_head < 1 || C3 % 3 || (C3 / 3) % n_head)
        fail(K, "qkv must have shape (B, T, 3C) with C divisible by n_head=" + std::to_string(n_head) + ", got " +
                    describe(qkv));
    C = C3 / 3;
    return C / n_head;
}

template <class T>
static Heads<T> packed(T* p, int64_t T_, int64_t row, int64_t D) { return {p, T_ * row, D, row}; }

static py::tuple attention_forward_packed(py::array qkv, int64_t n_head, bool causal, double scale, double dropout_p,
                                          uint64_t seed, uint64_t offset) {
    const char* K = "attention_forward_packed";
    const DType dt = dtype_of(qkv, K, "qkv");
    int64_t B, T_, C;
    const int64_t D = packed_dims(qkv, n_head, K, B, T_, C), H = n_head;
    const Drop dr = make_drop(K, dropout_p, seed, offset, T_, T_);
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto out = empty<T>({B, T_, C});
        auto lse = empty<T>({B, H, T_});
        {
            py::gil_scoped_release nogil;
            const T* p = cptr<T>(qkv);
            forward_for<T>(D, dropout_p > 0)(packed(p, T_, 3 * C, D), packed(p + C, T_, 3 * C, D),
                                             packed(p + 2 * C, T_, 3 * C, D), packed(out.mutable_data(), T_, C, D),
                                             lse.mutable_data(), H, B * H, T_, T_, D, causal, T(scale), dr);
        }
        return py::make_tuple(out, lse);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::array attention_backward_packed(py::array dout, py::array qkv, py::array out, py::array lse,
                                           int64_t n_head, bool causal, double scale, double dropout_p,
                                           uint64_t seed, uint64_t offset) {
    const char* K = "attention_backward_packed";
    const DType dt = dtype_of(qkv, K, "qkv");
    int64_t B, T_, C;
    const int64_t D = packed_dims(qkv, n_head, K, B, T_, C), H = n_head;
    check(out, K, "out", {B, T_, C});
    check(dout, K, "dout", {B, T_, C});
    check(lse, K, "lse", {B, H, T_});
    check_same_dtype(out, qkv, K, "out", "qkv");
    check_same_dtype(dout, qkv, K, "dout", "qkv");
    check_same_dtype(lse, qkv, K, "lse", "qkv");
    const Drop dr = make_drop(K, dropout_p, seed, offset, T_, T_);
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto dqkv = empty<T>({B, T_, 3 * C});
        {
            py::gil_scoped_release nogil;
            const T* p = cptr<T>(qkv);
            T* dp = dqkv.mutable_data();
            backward_for<T>(D, dropout_p > 0)(packed(cptr<T>(dout), T_, C, D), packed(p, T_, 3 * C, D),
                                              packed(p + C, T_, 3 * C, D), packed(p + 2 * C, T_, 3 * C, D),
                                              packed(cptr<T>(out), T_, C, D), cptr<T>(lse), packed(dp, T_, 3 * C, D),
                                              packed(dp + C, T_, 3 * C, D), packed(dp + 2 * C, T_, 3 * C, D), H,
                                              B * H, T_, T_, D, causal, T(scale), dr);
        }
        return dqkv;
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
    // Every entry point ends with the dropout arguments (dropout_p = 0: none; seed, offset: the Philox stream).
    m.def("attention_forward", &attention_forward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("causal"),
          py::arg("scale"), py::arg("dropout_p") = 0.0, py::arg("seed") = 0, py::arg("offset") = 0,
          "Flash-style attention forward (dropout on P drawn from Philox(seed, offset)): returns (out, lse).");
    m.def("attention_backward", &attention_backward, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"),
          py::arg("out"), py::arg("lse"), py::arg("causal"), py::arg("scale"), py::arg("dropout_p") = 0.0,
          py::arg("seed") = 0, py::arg("offset") = 0,
          "Flash-style attention backward (recomputes P per tile from lse and the dropout mask from (seed, "
          "offset)): returns (dq, dk, dv).");
    m.def("attention_forward_packed", &attention_forward_packed, py::arg("qkv"), py::arg("n_head"),
          py::arg("causal"), py::arg("scale"), py::arg("dropout_p") = 0.0, py::arg("seed") = 0, py::arg("offset") = 0,
          "attention_forward on qkv (B, T, 3C) read in place; returns (out (B, T, C) heads merged, lse (B, H, T)).");
    m.def("attention_backward_packed", &attention_backward_packed, py::arg("dout"), py::arg("qkv"), py::arg("out"),
          py::arg("lse"), py::arg("n_head"), py::arg("causal"), py::arg("scale"), py::arg("dropout_p") = 0.0,
          py::arg("seed") = 0, py::arg("offset") = 0,
          "attention_backward in the packed layouts: dout and out (B, T, C); returns dqkv (B, T, 3C).");
    m.def("philox4x32_10", [](uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
              unsigned int w[4];
              tg_philox4x32_10(c0, c1, c2, c3, k0, k1, w);
              return py::make_tuple(w[0], w[1], w[2], w[3]);
          }, py::arg("c0"), py::arg("c1"), py::arg("c2"), py::arg("c3"), py::arg("k0"), py::arg("k1"),
          "csrc/common/philox.h on one counter (tests: the reference and Random123's known answers).");
    m.def("attention_workspace_bytes", &attention_workspace_bytes, py::arg("B"), py::arg("H"), py::arg("Tq"),
          py::arg("Tk"), py::arg("D"), py::arg("itemsize"), py::arg("backward") = true,
          "Workspace bytes the attention kernel allocates for these sizes (excluding its outputs).");
    m.def("attention_last_workspace_bytes", []() { return g_last_workspace.load(); },
          "Workspace bytes allocated by the most recent attention_forward/backward call.");
}

}  // namespace tg
