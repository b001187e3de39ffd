// LayerNorm over the last axis of x (N, C), float32 or float64 computed natively.
//
// forward:  mean_i = sum_c x_ic / C;  rstd_i = 1 / sqrt(sum_c (x_ic - mean_i)^2 / C + eps)
//           y_ic   = (x_ic - mean_i) * rstd_i * w_c + b_c              (w, b optional)
//           writes y, mean, rstd with `=`.
// backward: xhat = (x - mean) * rstd;  g = dy * w  (g = dy without weight)
//           dx_ic = rstd_i * (g_ic - mean_c(g_i) - xhat_ic * mean_c(g_i * xhat_i))      written with `=`
//           dweight_c = sum_i dy_ic * xhat_ic;  dbias_c = sum_i dy_ic                    written with `=`
//           (each thread accumulates `+=` into its own partial dweight/dbias, reduced once at the end,
//           so dx, dweight and dbias come from a single pass over x and dy).
// The variance is the two-pass (x - mean)^2 form of the reference, not E[x^2] - mean^2, which cancels badly.
// double_backward (the derivative of backward's dx, for a cotangent a on dx; torch's layer_norm_double_backward):
//           with h = xhat, r = rstd, g' = dy * w and row means m(.) (reference.layernorm_double_backward):
//           d/ddy_ic = w_c r_i (a_ic - m(a) - h_ic m(a h))                                   written with `=`
//           d/dx_ic  = r_i^2 (c0 + c1 h_ic - m(g' h) a_ic - m(a h) g'_ic),  c0 = m(a) m(g' h) + m(g') m(a h),
//                      c1 = 3 m(g' h) m(a h) + m(g') m(a) - m(a g')                            written with `=`
//           d/dw_c   = sum_i r_i (a_ic - m(a) - h_ic m(a h)) dy_ic      (per-thread partials, as backward's)
#include "tg_common.h"

namespace tg {

template <class T>
static void layernorm_forward_impl(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t N, int64_t C,
                                   T eps) {
#pragma omp parallel for schedule(static) num_threads(threads_for(N * C))
    for (int64_t i = 0; i < N; ++i) {
        const T* xi = x + i * C;
        T* yi = y + i * C;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t c = 0; c < C; ++c) s += xi[c];
        const T m = s / T(C);
        T v = 0;
#pragma omp simd reduction(+ : v)
        for (int64_t c = 0; c < C; ++c) v += (xi[c] - m) * (xi[c] - m);
        const T r = T(1) / std::sqrt(v / T(C) + eps);
        mean[i] = m;
        rstd[i] = r;
        if (w && b) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] - m) * r * w[c] + b[c];
        } else if (w) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] - m) * r * w[c];
        } else if (b) {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] - m) * r + b[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) yi[c] = (xi[c] - m) * r;
        }
    }
}

template <class T>
static void layernorm_backward_impl(const T* dy, const T* x, const T* w, const T* mean, const T* rstd, T* dx, T* dw,
                                    T* db, int64_t N, int64_t C) {
    const int nt = std::max<int>(1, std::min<int64_t>(threads_for(N * C), N));
    // Per-thread partials [t][0:C] = dweight, [t][C:2C] = dbias; thread 0 writes straight into the outputs' slots.
    std::vector<T> partial((size_t)nt * 2 * C, T(0));
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        const int64_t i0 = N * t / nt, i1 = N * (t + 1) / nt;
        T* pdw = partial.data() + (size_t)t * 2 * C;
        T* pdb = pdw + C;
        for (int64_t i = i0; i < i1; ++i) {
            const T* xi = x + i * C;
            const T* dyi = dy + i * C;
            T* dxi = dx + i * C;
            const T m = mean[i], r = rstd[i];
            T sg = 0, sgx = 0;
            if (w) {
#pragma omp simd reduction(+ : sg, sgx)
                for (int64_t c = 0; c < C; ++c) {
                    const T xh = (xi[c] - m) * r;
                    const T g = dyi[c] * w[c];
                    sg += g;
                    sgx += g * xh;
                    pdw[c] += dyi[c] * xh;
                    pdb[c] += dyi[c];
                }
            } else {
#pragma omp simd reduction(+ : sg, sgx)
                for (int64_t c = 0; c < C; ++c) {
                    const T xh = (xi[c] - m) * r;
                    sg += dyi[c];
                    sgx += dyi[c] * xh;
                    pdb[c] += dyi[c];
                }
            }
            const T mg = sg / T(C), mgx = sgx / T(C);
            if (w) {
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) dxi[c] = (dyi[c] * w[c] - mg - (xi[c] - m) * r * mgx) * r;
            } else {
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) dxi[c] = (dyi[c] - mg - (xi[c] - m) * r * mgx) * r;
            }
        }
    }
    for (int64_t c = 0; c < C; ++c) {
        T sw = 0, sb = 0;
        for (int t = 0; t < nt; ++t) {
            sw += partial[(size_t)t * 2 * C + c];
            sb += partial[(size_t)t * 2 * C + C + c];
        }
        if (dw) dw[c] = sw;
        db[c] = sb;
    }
}

template <class T>
static void layernorm_double_backward_impl(const T* a, const T* dy, const T* x, const T* w, const T* mean,
                                           const T* rstd, T* ddy, T* dx, T* dw, int64_t N, int64_t C) {
    const int nt = std::max<int>(1, std::min<int64_t>(threads_for(3 * N * C), N));
    std::vector<T> partial(dw ? (size_t)nt * C : 0, T(0));
    const T inv_c = T(1) / T(C);
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        const int64_t i0 = N * t / nt, i1 = N * (t + 1) / nt;
        T* pdw = dw ? partial.data() + (size_t)t * C : nullptr;
        for (int64_t i = i0; i < i1; ++i) {
            const T *ai = a + i * C, *gi = dy + i * C, *xi = x + i * C;
            const T m = mean[i], r = rstd[i];
            T sa = 0, sah = 0, sg = 0, sgh = 0, sag = 0;
#pragma omp simd reduction(+ : sa, sah, sg, sgh, sag)
            for (int64_t c = 0; c < C; ++c) {
                const T h = (xi[c] - m) * r;
                const T gw = w ? gi[c] * w[c] : gi[c];
                sa += ai[c];
                sah += ai[c] * h;
                sg += gw;
                sgh += gw * h;
                sag += ai[c] * gw;
            }
            const T ma = sa * inv_c, mah = sah * inv_c, mg = sg * inv_c, mgh = sgh * inv_c, mag = sag * inv_c;
            if (ddy || pdw) {
                T* ddyi = ddy ? ddy + i * C : nullptr;
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) {
                    const T dgw = r * (ai[c] - ma - (xi[c] - m) * r * mah);
                    if (ddyi) ddyi[c] = w ? dgw * w[c] : dgw;
                    if (pdw) pdw[c] += dgw * gi[c];
                }
            }
            if (dx) {
                const T c0 = ma * mgh + mg * mah, c1 = T(3) * mgh * mah + mg * ma - mag, r2 = r * r;
                T* dxi = dx + i * C;
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) {
                    const T gw = w ? gi[c] * w[c] : gi[c];
                    dxi[c] = r2 * (c0 + c1 * (xi[c] - m) * r - mgh * ai[c] - mah * gw);
                }
            }
        }
    }
    if (dw) {
        for (int64_t c = 0; c < C; ++c) {
            T s = 0;
            for (int t = 0; t < nt; ++t) s += partial[(size_t)t * C + c];
            dw[c] = s;
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
static py::tuple layernorm_forward(py::array x, py::object weight, py::object bias, double eps) {
    const char* K = "layernorm_forward";
    const DType dt = dtype_of(x, K, "x");
    check(x, K, "x", {-1, -1});
    const int64_t N = x.shape(0), C = x.shape(1);
    py::array w, b;
    if (!weight.is_none()) {
        w = weight.cast<py::array>();
        check(w, K, "weight", {C});
        check_same_dtype(w, x, K, "weight", "x");
    }
    if (!bias.is_none()) {
        b = bias.cast<py::array>();
        check(b, K, "bias", {C});
        check_same_dtype(b, x, K, "bias", "x");
    }
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto y = empty<T>({N, C});
        auto mean = empty<T>({N});
        auto rstd = empty<T>({N});
        const T* wp = weight.is_none() ? nullptr : cptr<T>(w);
        const T* bp = bias.is_none() ? nullptr : cptr<T>(b);
        {
            py::gil_scoped_release nogil;
            layernorm_forward_impl<T>(cptr<T>(x), wp, bp, y.mutable_data(), mean.mutable_data(), rstd.mutable_data(),
                                      N, C, T(eps));
        }
        return py::make_tuple(y, mean, rstd);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

// The arguments both backwards take beside x (N, C): dy (N, C), mean and rstd (N,), weight (C,) or None, all of x's
// dtype. Returns the weight as an array (empty for None).
static py::array check_backward_args(const char* K, const py::array& x, const py::array& dy, const py::array& mean,
                                     const py::array& rstd, const py::object& weight) {
    const int64_t N = x.shape(0), C = x.shape(1);
    check(dy, K, "dy", {N, C});
    check_same_dtype(dy, x, K, "dy", "x");
    check(mean, K, "mean", {N});
    check_same_dtype(mean, x, K, "mean", "x");
    check(rstd, K, "rstd", {N});
    check_same_dtype(rstd, x, K, "rstd", "x");
    py::array w;
    if (!weight.is_none()) {
        w = weight.cast<py::array>();
        check(w, K, "weight", {C});
        check_same_dtype(w, x, K, "weight", "x");
    }
    return w;
}

static py::tuple layernorm_backward(py::array dy, py::array x, py::object weight, py::array mean, py::array rstd) {
    const char* K = "layernorm_backward";
    const DType dt = dtype_of(x, K, "x");
    check(x, K, "x", {-1, -1});
    const int64_t N = x.shape(0), C = x.shape(1);
    const py::array w = check_backward_args(K, x, dy, mean, rstd, weight);
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto dx = empty<T>({N, C});
        auto db = empty<T>({C});
        py::object dwo = py::none();
        T* dwp = nullptr;
        if (!weight.is_none()) {
            auto dw = empty<T>({C});
            dwp = dw.mutable_data();
            dwo = dw;
        }
        const T* wp = weight.is_none() ? nullptr : cptr<T>(w);
        {
            py::gil_scoped_release nogil;
            layernorm_backward_impl<T>(cptr<T>(dy), cptr<T>(x), wp, cptr<T>(mean), cptr<T>(rstd), dx.mutable_data(),
                                       dwp, db.mutable_data(), N, C);
        }
        return py::make_tuple(dx, dwo, db);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple layernorm_double_backward(py::array a, py::array dy, py::array x, py::object weight, py::array mean,
                                           py::array rstd, bool need_dy, bool need_x, bool need_w) {
    const char* K = "layernorm_double_backward";
    const DType dt = dtype_of(x, K, "x");
    check(x, K, "x", {-1, -1});
    const int64_t N = x.shape(0), C = x.shape(1);
    check(a, K, "a", {N, C});
    check_same_dtype(a, x, K, "a", "x");
    const py::array w = check_backward_args(K, x, dy, mean, rstd, weight);
    need_w = need_w && !weight.is_none();
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        py::object ddyo = py::none(), dxo = py::none(), dwo = py::none();
        T *ddyp = nullptr, *dxp = nullptr, *dwp = nullptr;
        if (need_dy) {
            auto o = empty<T>({N, C});
            ddyp = o.mutable_data();
            ddyo = o;
        }
        if (need_x) {
            auto o = empty<T>({N, C});
            dxp = o.mutable_data();
            dxo = o;
        }
        if (need_w) {
            auto o = empty<T>({C});
            dwp = o.mutable_data();
            dwo = o;
        }
        const T* wp = weight.is_none() ? nullptr : cptr<T>(w);
        {
            py::gil_scoped_release nogil;
            layernorm_double_backward_impl<T>(cptr<T>(a), cptr<T>(dy), cptr<T>(x), wp, cptr<T>(mean), cptr<T>(rstd),
                                              ddyp, dxp, dwp, N, C);
        }
        return py::make_tuple(ddyo, dxo, dwo);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_layernorm(py::module_& m) {
    m.def("layernorm_forward", &layernorm_forward, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
          "LayerNorm forward over the last axis: returns (y, mean, rstd).");
    m.def("layernorm_backward", &layernorm_backward, py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("mean"),
          py::arg("rstd"), "LayerNorm backward: returns (dx, dweight or None, dbias).");
    m.def("layernorm_double_backward", &layernorm_double_backward, py::arg("a"), py::arg("dy"), py::arg("x"),
          py::arg("weight"), py::arg("mean"), py::arg("rstd"), py::arg("need_dy"), py::arg("need_x"),
          py::arg("need_w"),
          "Derivative of layernorm_backward's dx for a cotangent a: returns (d/ddy, d/dx, d/dweight), None where not "
          "needed.");
}

}  // namespace tg
