// The pointwise part of one LSTM or GRU step, fused (PyTorch's _thnn_fused_lstm_cell / _thnn_fused_gru_cell): the
// gate pre-activations come from two GEMMs the caller runs (xw = W_ih x + b_ih, hw = W_hh h + b_hh), and everything
// after them is one pass here instead of a dozen recorded ops per step. float32 or float64; rows of N, H features.
//
// LSTM, gate order i, f, g, o (torch's):  a = xw + hw (N, 4H);  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
//   c' = f c + i g;  h' = o tanh(c')          forward returns hc = [h'; c'] (2, N, H) and act = [i f g o] (N, 4H)
//   backward from dhc = [dh; dc'] (2, N, H), act, c, c':
//   t = tanh c';  dC = dc' + dh o (1 - t^2);  dc = dC f
//   da = [dC g i (1 - i),  dC c f (1 - f),  dC i (1 - g^2),  dh t o (1 - o)]
// GRU, gate order r, z, n:  r = sigmoid(xw_r + hw_r);  z = sigmoid(xw_z + hw_z);  n = tanh(xw_n + r hw_n)
//   h' = n + z (h - n)                       forward returns h' (N, H) and act = [r z n] (N, 3H)
//   backward from dh', act, hw, h:  dn = dh' (1 - z) (1 - n^2);  dz = dh' (h - n) z (1 - z);  dr = dn hw_n r (1 - r)
//   dxw = [dr, dz, dn];  dhw = [dr, dz, dn r];  dh = dh' z
// Every output is written with `=`. The math is the vectorizable exp of tg_common.h; tanh is accurate near 0 too
// (below), since h and c carry it from step to step.
#include "tg_common.h"

namespace tg {

template <class T>
static TG_INLINE T sigmoid_acc(T x) {
    return T(1) / (T(1) + exp_approx(-x));
}

// tanh with a small relative error everywhere: (1 - e) / (1 + e), e = exp(-2|u|), loses digits to cancellation as
// |u| -> 0 (tg_common's tanh_approx is exact to ~1 ulp of 1, not of tanh u), so small |u| takes the odd Taylor series
// (cut where its next term is below the type's rounding: |u| < 1/4 for float, 1/16 for double).
template <class T>
static TG_INLINE T tanh_acc(T u) {
    const T a = u < T(0) ? -u : u;
    const T e = exp_approx(T(-2) * a);
    const T big = (T(1) - e) / (T(1) + e);
    const T a2 = a * a;
    T p = T(21844.0 / 6081075.0);
    p = p * a2 - T(1382.0 / 155925.0);
    p = p * a2 + T(62.0 / 2835.0);
    p = p * a2 - T(17.0 / 315.0);
    p = p * a2 + T(2.0 / 15.0);
    p = p * a2 - T(1.0 / 3.0);
    const T small = a + a * a2 * p;
    const T r = a < T(sizeof(T) == 4 ? 0.25 : 0.0625) ? small : big;
    return u < T(0) ? -r : r;
}

// (Each gate block gets a pointer of its own: indexed as x[2 * H + j], GCC found the loops' access pattern too
// complicated and left them scalar, 6 ns per element instead of under 1.)
template <class T>
static void lstm_forward_impl(const T* __restrict xw, const T* __restrict hw, const T* __restrict c,
                              T* __restrict hc, T* __restrict act, int64_t N, int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads_for(12 * N * H))
    for (int64_t n = 0; n < N; ++n) {
        const T *xi = xw + n * 4 * H, *xf = xi + H, *xg = xf + H, *xo = xg + H;
        const T *yi = hw + n * 4 * H, *yf = yi + H, *yg = yf + H, *yo = yg + H;
        const T* cp = c + n * H;
        T *Ai = act + n * 4 * H, *Af = Ai + H, *Ag = Af + H, *Ao = Ag + H;
        T* ho = hc + n * H;
        T* co = hc + (N + n) * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            const T i = sigmoid_acc(xi[j] + yi[j]);
            const T f = sigmoid_acc(xf[j] + yf[j]);
            const T g = tanh_acc(xg[j] + yg[j]);
            const T o = sigmoid_acc(xo[j] + yo[j]);
            const T cn = f * cp[j] + i * g;
            Ai[j] = i;
            Af[j] = f;
            Ag[j] = g;
            Ao[j] = o;
            co[j] = cn;
            ho[j] = o * tanh_acc(cn);
        }
    }
}

template <class T>
static void lstm_backward_impl(const T* __restrict dhc, const T* __restrict act, const T* __restrict c,
                               const T* __restrict cn, T* __restrict da, T* __restrict dc, int64_t N, int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads_for(12 * N * H))
    for (int64_t n = 0; n < N; ++n) {
        const T* dh = dhc + n * H;
        const T* dcn = dhc + (N + n) * H;
        const T *Ai = act + n * 4 * H, *Af = Ai + H, *Ag = Af + H, *Ao = Ag + H;
        const T* cp = c + n * H;
        const T* cc = cn + n * H;
        T *Di = da + n * 4 * H, *Df = Di + H, *Dg = Df + H, *Do = Dg + H;
        T* dcp = dc + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            const T i = Ai[j], f = Af[j], g = Ag[j], o = Ao[j];
            const T t = tanh_acc(cc[j]);
            const T dC = dcn[j] + dh[j] * o * (T(1) - t * t);
            Di[j] = dC * g * i * (T(1) - i);
            Df[j] = dC * cp[j] * f * (T(1) - f);
            Dg[j] = dC * i * (T(1) - g * g);
            Do[j] = dh[j] * t * o * (T(1) - o);
            dcp[j] = dC * f;
        }
    }
}

template <class T>
static void gru_forward_impl(const T* __restrict xw, const T* __restrict hw, const T* __restrict h,
                             T* __restrict hn, T* __restrict act, int64_t N, int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads_for(10 * N * H))
    for (int64_t n = 0; n < N; ++n) {
        const T *xr = xw + n * 3 * H, *xz = xr + H, *xn = xz + H;
        const T *yr = hw + n * 3 * H, *yz = yr + H, *yn = yz + H;
        const T* hp = h + n * H;
        T *Ar = act + n * 3 * H, *Az = Ar + H, *An = Az + H;
        T* ho = hn + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            const T r = sigmoid_acc(xr[j] + yr[j]);
            const T z = sigmoid_acc(xz[j] + yz[j]);
            const T nn = tanh_acc(xn[j] + r * yn[j]);
            Ar[j] = r;
            Az[j] = z;
            An[j] = nn;
            ho[j] = nn + z * (hp[j] - nn);
        }
    }
}

template <class T>
static void gru_backward_impl(const T* __restrict dhn, const T* __restrict act, const T* __restrict hw,
                              const T* __restrict h, T* __restrict dxw, T* __restrict dhw, T* __restrict dh,
                              int64_t N, int64_t H) {
#pragma omp parallel for schedule(static) num_threads(threads_for(12 * N * H))
    for (int64_t n = 0; n < N; ++n) {
        const T* g = dhn + n * H;
        const T *Ar = act + n * 3 * H, *Az = Ar + H, *An = Az + H;
        const T* yn = hw + n * 3 * H + 2 * H;
        const T* hp = h + n * H;
        T *dxr = dxw + n * 3 * H, *dxz = dxr + H, *dxn = dxz + H;
        T *dyr = dhw + n * 3 * H, *dyz = dyr + H, *dyn = dyz + H;
        T* dp = dh + n * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
            const T r = Ar[j], z = Az[j], nn = An[j];
            const T dn = g[j] * (T(1) - z) * (T(1) - nn * nn);
            const T dz = g[j] * (hp[j] - nn) * z * (T(1) - z);
            const T dr = dn * yn[j] * r * (T(1) - r);
            dxr[j] = dr;
            dxz[j] = dz;
            dxn[j] = dn;
            dyr[j] = dr;
            dyz[j] = dz;
            dyn[j] = dn * r;
            dp[j] = g[j] * z;
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
// (N, H) of a step from its hidden-state-shaped argument; every other argument is checked against them.
static std::pair<int64_t, int64_t> rows_cols(const py::array& a, const char* K, const char* name) {
    if (a.ndim() != 2) fail(K, std::string(name) + " must be 2-D (N, H), got " + describe(a));
    return {a.shape(0), a.shape(1)};
}

static py::tuple lstm_cell_forward(py::array xw, py::array hw, py::array c) {
    const char* K = "lstm_cell_forward";
    const DType dt = dtype_of(c, K, "c");
    const auto [N, H] = rows_cols(c, K, "c");
    check(c, K, "c", {N, H});
    check(xw, K, "xw", {N, 4 * H});
    check(hw, K, "hw", {N, 4 * H});
    check_same_dtype(xw, c, K, "xw", "c");
    check_same_dtype(hw, c, K, "hw", "c");
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto hc = empty<T>({2, N, H});
        auto act = empty<T>({N, 4 * H});
        {
            py::gil_scoped_release nogil;
            lstm_forward_impl<T>(cptr<T>(xw), cptr<T>(hw), cptr<T>(c), hc.mutable_data(), act.mutable_data(), N, H);
        }
        return py::make_tuple(hc, act);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple lstm_cell_backward(py::array dhc, py::array act, py::array c, py::array cn) {
    const char* K = "lstm_cell_backward";
    const DType dt = dtype_of(c, K, "c");
    const auto [N, H] = rows_cols(c, K, "c");
    check(c, K, "c", {N, H});
    check(cn, K, "c_new", {N, H});
    check(dhc, K, "dhc", {2, N, H});
    check(act, K, "act", {N, 4 * H});
    for (const auto& [a, name] : {std::pair<const py::array&, const char*>{dhc, "dhc"}, {act, "act"}, {cn, "c_new"}})
        check_same_dtype(a, c, K, name, "c");
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto da = empty<T>({N, 4 * H});
        auto dc = empty<T>({N, H});
        {
            py::gil_scoped_release nogil;
            lstm_backward_impl<T>(cptr<T>(dhc), cptr<T>(act), cptr<T>(c), cptr<T>(cn), da.mutable_data(),
                                  dc.mutable_data(), N, H);
        }
        return py::make_tuple(da, dc);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple gru_cell_forward(py::array xw, py::array hw, py::array h) {
    const char* K = "gru_cell_forward";
    const DType dt = dtype_of(h, K, "h");
    const auto [N, H] = rows_cols(h, K, "h");
    check(h, K, "h", {N, H});
    check(xw, K, "xw", {N, 3 * H});
    check(hw, K, "hw", {N, 3 * H});
    check_same_dtype(xw, h, K, "xw", "h");
    check_same_dtype(hw, h, K, "hw", "h");
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto hn = empty<T>({N, H});
        auto act = empty<T>({N, 3 * H});
        {
            py::gil_scoped_release nogil;
            gru_forward_impl<T>(cptr<T>(xw), cptr<T>(hw), cptr<T>(h), hn.mutable_data(), act.mutable_data(), N, H);
        }
        return py::make_tuple(hn, act);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple gru_cell_backward(py::array dhn, py::array act, py::array hw, py::array h) {
    const char* K = "gru_cell_backward";
    const DType dt = dtype_of(h, K, "h");
    const auto [N, H] = rows_cols(h, K, "h");
    check(h, K, "h", {N, H});
    check(dhn, K, "dh_new", {N, H});
    check(act, K, "act", {N, 3 * H});
    check(hw, K, "hw", {N, 3 * H});
    for (const auto& [a, name] : {std::pair<const py::array&, const char*>{dhn, "dh_new"}, {act, "act"}, {hw, "hw"}})
        check_same_dtype(a, h, K, name, "h");
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto dxw = empty<T>({N, 3 * H});
        auto dhw = empty<T>({N, 3 * H});
        auto dh = empty<T>({N, H});
        {
            py::gil_scoped_release nogil;
            gru_backward_impl<T>(cptr<T>(dhn), cptr<T>(act), cptr<T>(hw), cptr<T>(h), dxw.mutable_data(),
                                 dhw.mutable_data(), dh.mutable_data(), N, H);
        }
        return py::make_tuple(dxw, dhw, dh);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_rnn_cell(py::module_& m) {
    m.def("lstm_cell_forward", &lstm_cell_forward, py::arg("xw"), py::arg("hw"), py::arg("c"),
          "One LSTM step's pointwise part: (hc = [h'; c'] (2, N, H), act = [i f g o] (N, 4H)).");
    m.def("lstm_cell_backward", &lstm_cell_backward, py::arg("dhc"), py::arg("act"), py::arg("c"), py::arg("c_new"),
          "(d gates (N, 4H), dc (N, H)) from dhc = [dh'; dc'] (2, N, H).");
    m.def("gru_cell_forward", &gru_cell_forward, py::arg("xw"), py::arg("hw"), py::arg("h"),
          "One GRU step's pointwise part: (h' (N, H), act = [r z n] (N, 3H)).");
    m.def("gru_cell_backward", &gru_cell_backward, py::arg("dh_new"), py::arg("act"), py::arg("hw"), py::arg("h"),
          "(dxw (N, 3H), dhw (N, 3H), dh (N, H)).");
}

}  // namespace tg
