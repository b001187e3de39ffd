// GELU, elementwise over any contiguous array; float32, float64, or bfloat16 bits (uint16) computed in float32 and
// rounded once (PyTorch's bf16 GELU), so a bf16 activation is read and written at 2 bytes with no cast around it.
//
// 'none' (exact): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt2));  dy/dx = Phi(x) + x phi(x),
//                 phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
// 'tanh':         u = sqrt(2/pi) (x + 0.044715 x^3);  y = 0.5 x (1 + tanh u)
//                 dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// forward writes y with `=`; backward writes dx = dy * dy/dx with `=`.
// double_backward (GELU's gradient dy * GELU'(x) differentiated, for a cotangent gg on it), float32/float64:
//   d/ddy = gg GELU'(x);  d/dx = gg dy GELU''(x),  GELU''(x) = phi(x) (2 - x^2)  ('none'),
//   (1 - t^2) (u' - x t u'^2 + 3 sqrt(2/pi) 0.044715 x^2), t = tanh u, u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)  ('tanh');
//   both written with `=` in one pass (either may be skipped).
// float32 uses the vectorizable erf/exp/tanh of tg_common.h (a few ulp); float64 uses std::erf for the exact
// form (full precision) and the exp-based tanh.
#include "tg_common.h"

namespace tg {

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kCoef = 0.044715;

template <class S>
static void gelu_forward_impl(const S* __restrict x, S* __restrict y, int64_t n, bool tanh_form) {
    using E = Elem<S>;
    using T = typename E::C;
    const T a = T(kSqrt2OverPi), c = T(kCoef), r2 = T(kInvSqrt2);
    if (tanh_form) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(4 * n))
        for (int64_t i = 0; i < n; ++i) {
            const T xi = E::load(x[i]);
            y[i] = E::store(T(0.5) * xi * (T(1) + tanh_approx(a * (xi + c * xi * xi * xi))));
        }
        return;
    }
#pragma omp parallel for simd schedule(static) num_threads(threads_for(4 * n))
    for (int64_t i = 0; i < n; ++i) {
        const T xi = E::load(x[i]);
        y[i] = E::store(T(0.5) * xi * (T(1) + erf_approx(xi * r2)));
    }
}

template <class S>
static void gelu_backward_impl(const S* __restrict dy, const S* __restrict x, S* __restrict dx, int64_t n,
                               bool tanh_form) {
    using E = Elem<S>;
    using T = typename E::C;
    const T a = T(kSqrt2OverPi), c = T(kCoef), r2 = T(kInvSqrt2), ip = T(kInvSqrt2Pi);
    if (tanh_form) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(4 * n))
        for (int64_t i = 0; i < n; ++i) {
            const T xi = E::load(x[i]);
            const T t = tanh_approx(a * (xi + c * xi * xi * xi));
            const T d = T(0.5) * (T(1) + t) + T(0.5) * xi * (T(1) - t * t) * a * (T(1) + T(3) * c * xi * xi);
            dx[i] = E::store(E::load(dy[i]) * d);
        }
        return;
    }
#pragma omp parallel for simd schedule(static) num_threads(threads_for(4 * n))
    for (int64_t i = 0; i < n; ++i) {
        const T xi = E::load(x[i]);
        const T cdf = T(0.5) * (T(1) + erf_approx(xi * r2));
        const T d = cdf + xi * exp_approx(T(-0.5) * xi * xi) * ip;
        dx[i] = E::store(E::load(dy[i]) * d);
    }
}

template <class T>
static void gelu_double_backward_impl(const T* __restrict gg, const T* __restrict dy, const T* __restrict x,
                                      T* __restrict ddy, T* __restrict dx, int64_t n, bool tanh_form) {
    const T a = T(kSqrt2OverPi), c = T(kCoef), r2 = T(kInvSqrt2), ip = T(kInvSqrt2Pi);
    // (the four loops keep each one branch-free for the vectorizer)
    if (tanh_form) {
#pragma omp parallel for simd schedule(static) num_threads(threads_for(6 * n))
        for (int64_t i = 0; i < n; ++i) {
            // 1 - t^2 as sech^2 u = 4 e / (1 + e)^2, e = exp(-2|u|): the difference cancels to 0 near |t| = 1,
            // where x u'^2 (~1e4 at x = 15) magnifies the lost digits.
            const T xi = x[i], x2 = xi * xi, u = a * (xi + c * x2 * xi);
            const T e = exp_approx(T(-2) * (u < T(0) ? -u : u)), inv = T(1) / (T(1) + e);
            const T ta = (T(1) - e) * inv, t = u < T(0) ? -ta : ta;
            const T du = a * (T(1) + T(3) * c * x2), s = T(4) * e * inv * inv;
            if (ddy) ddy[i] = gg[i] * (T(0.5) * (T(1) + t) + T(0.5) * xi * s * du);
            if (dx) dx[i] = gg[i] * dy[i] * s * (du - xi * t * du * du + T(3) * a * c * x2);
        }
        return;
    }
#pragma omp parallel for simd schedule(static) num_threads(threads_for(6 * n))
    for (int64_t i = 0; i < n; ++i) {
        const T xi = x[i];
        const T pdf = exp_approx(T(-0.5) * xi * xi) * ip;
        if (ddy) ddy[i] = gg[i] * (T(0.5) * (T(1) + erf_approx(xi * r2)) + xi * pdf);
        if (dx) dx[i] = gg[i] * dy[i] * pdf * (T(2) - xi * xi);
    }
}

// ------------------------------------------------------------------------------------------- bindings
static bool parse_approximate(const std::string& approximate, const char* K) {
    if (approximate == "tanh") return true;
    if (approximate == "none") return false;
    fail(K, "approximate must be 'none' or 'tanh', got '" + approximate + "'");
}

static std::vector<py::ssize_t> shape_of(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

static void check_contig(const py::array& a, const char* K, const char* name) {
    if (!(a.flags() & py::array::c_style)) fail(K, std::string(name) + " must be C-contiguous, got " + describe(a));
}

static py::array gelu_forward(py::array x, const std::string& approximate) {
    const char* K = "gelu_forward";
    const bool bf16 = is_bf16_bits(x);
    const DType dt = bf16 ? DType::F32 : dtype_of(x, K, "x");
    check_contig(x, K, "x");
    const bool th = parse_approximate(approximate, K);
    const int64_t n = x.size();
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> y(shape_of(x));
        {
            py::gil_scoped_release nogil;
            gelu_forward_impl<T>(cptr<T>(x), y.mutable_data(), n, th);
        }
        return y;
    };
    return bf16 ? run(uint16_t()) : dt == DType::F32 ? run(float()) : run(double());
}

static py::array gelu_backward(py::array dy, py::array x, const std::string& approximate) {
    const char* K = "gelu_backward";
    const bool bf16 = is_bf16_bits(x);
    const DType dt = bf16 ? DType::F32 : dtype_of(x, K, "x");
    check_contig(x, K, "x");
    check_contig(dy, K, "dy");
    check_same_dtype(dy, x, K, "dy", "x");
    if (shape_of(dy) != shape_of(x)) fail(K, "dy " + describe(dy) + " must have the shape of x " + describe(x));
    const bool th = parse_approximate(approximate, K);
    const int64_t n = x.size();
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> dx(shape_of(x));
        {
            py::gil_scoped_release nogil;
            gelu_backward_impl<T>(cptr<T>(dy), cptr<T>(x), dx.mutable_data(), n, th);
        }
        return dx;
    };
    return bf16 ? run(uint16_t()) : dt == DType::F32 ? run(float()) : run(double());
}

static py::tuple gelu_double_backward(py::array gg, py::array dy, py::array x, const std::string& approximate,
                                      bool need_dy, bool need_x) {
    const char* K = "gelu_double_backward";
    const DType dt = dtype_of(x, K, "x");
    for (const auto& [a, name] : {std::pair<const py::array&, const char*>{gg, "gg"}, {dy, "dy"}, {x, "x"}}) {
        check_contig(a, K, name);
        check_same_dtype(a, x, K, name, "x");
        if (shape_of(a) != shape_of(x))
            fail(K, std::string(name) + " " + describe(a) + " must have the shape of x " + describe(x));
    }
    const bool th = parse_approximate(approximate, K);
    const int64_t n = x.size();
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        py::object ddyo = py::none(), dxo = py::none();
        T *ddyp = nullptr, *dxp = nullptr;
        if (need_dy) {
            py::array_t<T> o(shape_of(x));
            ddyp = o.mutable_data();
            ddyo = o;
        }
        if (need_x) {
            py::array_t<T> o(shape_of(x));
            dxp = o.mutable_data();
            dxo = o;
        }
        {
            py::gil_scoped_release nogil;
            gelu_double_backward_impl<T>(cptr<T>(gg), cptr<T>(dy), cptr<T>(x), ddyp, dxp, n, th);
        }
        return py::make_tuple(ddyo, dxo);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_gelu(py::module_& m) {
    m.def("gelu_forward", &gelu_forward, py::arg("x"), py::arg("approximate"),
          "GELU ('none' or 'tanh'); float32, float64 or bfloat16 bits (uint16).");
    m.def("gelu_backward", &gelu_backward, py::arg("dy"), py::arg("x"), py::arg("approximate"),
          "dx = dy * GELU'(x).");
    m.def("gelu_double_backward", &gelu_double_backward, py::arg("gg"), py::arg("dy"), py::arg("x"),
          py::arg("approximate"), py::arg("need_dy"), py::arg("need_x"),
          "GELU's gradient differentiated for a cotangent gg: (gg * GELU'(x), gg * dy * GELU''(x)), None where not "
          "needed; float32 or float64.");
}

}  // namespace tg
