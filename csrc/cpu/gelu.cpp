// GELU, elementwise over any contiguous array; float32, float64, or bfloat16 bits (uint16) computed in float32 and
// rounded once (PyTorch's bf16 GELU), so a bf16 activation is read and written at 2 bytes with no cast around it.
//
// 'none' (exact): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt2));  dy/dx = Phi(x) + x phi(x),
//                 phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
// 'tanh':         u = sqrt(2/pi) (x + 0.044715 x^3);  y = 0.5 x (1 + tanh u)
//                 dy/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// forward writes y with `=`; backward writes dx = dy * dy/dx with `=`.
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

void register_gelu(py::module_& m) {
    m.def("gelu_forward", &gelu_forward, py::arg("x"), py::arg("approximate"),
          "GELU ('none' or 'tanh'); float32, float64 or bfloat16 bits (uint16).");
    m.def("gelu_backward", &gelu_backward, py::arg("dy"), py::arg("x"), py::arg("approximate"),
          "dx = dy * GELU'(x).");
}

}  // namespace tg
