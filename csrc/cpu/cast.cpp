// float32 / float64 <-> bfloat16 conversion, elementwise over C-contiguous arrays. bfloat16 travels as its bits
// (uint16; tensorgrad/backend/cpu.py views them as ml_dtypes.bfloat16).
//
// to_bfloat16:   b = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 on the float32 bits u: round to nearest, ties to even,
//                subnormals kept (PyTorch's c10::BFloat16 and its AVX-512 path do the same); NaN -> quiet NaN of
//                the same sign (u >> 16 | 0x40, as ml_dtypes). float64 is rounded to float32 first, as PyTorch's
//                cast (static_cast<BFloat16>(double) goes through float).
// from_bfloat16: u = b << 16 (exact).
// Both write their output with `=`; the element conversions are tg_common.h's float_to_bf16 / bf16_to_float.
#include "tg_common.h"

namespace tg {

constexpr int64_t kCastMin = 2 * kElementwiseMin;  // (2^19 elements: the casts' threshold since they were written)

template <class T>
static void to_bf16_impl(const T* __restrict x, uint16_t* __restrict y, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_from(n, kCastMin))
    for (int64_t i = 0; i < n; ++i) {
        y[i] = float_to_bf16(float(x[i]));
    }
}

static void from_bf16_impl(const uint16_t* __restrict x, float* __restrict y, int64_t n) {
#pragma omp parallel for simd schedule(static) num_threads(threads_from(n, kCastMin))
    for (int64_t i = 0; i < n; ++i) {
        y[i] = bf16_to_float(x[i]);
    }
}

// ------------------------------------------------------------------------------------------- bindings
static std::vector<py::ssize_t> shape_vec(const py::array& a) { return {a.shape(), a.shape() + a.ndim()}; }

static py::array to_bfloat16(py::array x) {
    const char* K = "to_bfloat16";
    const DType dt = dtype_of(x, K, "x");
    if (!(x.flags() & py::array::c_style)) fail(K, "x must be C-contiguous, got " + describe(x));
    py::array_t<uint16_t> y(shape_vec(x));
    const int64_t n = x.size();
    {
        py::gil_scoped_release nogil;
        if (dt == DType::F32) to_bf16_impl<float>(cptr<float>(x), y.mutable_data(), n);
        else to_bf16_impl<double>(cptr<double>(x), y.mutable_data(), n);
    }
    return y;
}

static py::array from_bfloat16(py::array x) {
    const char* K = "from_bfloat16";
    if (!x.dtype().is(py::dtype::of<uint16_t>())) fail(K, "x must be bfloat16 bits (uint16), got " + describe(x));
    if (!(x.flags() & py::array::c_style)) fail(K, "x must be C-contiguous, got " + describe(x));
    py::array_t<float> y(shape_vec(x));
    const int64_t n = x.size();
    {
        py::gil_scoped_release nogil;
        from_bf16_impl(cptr<uint16_t>(x), y.mutable_data(), n);
    }
    return y;
}

void register_cast(py::module_& m) {
    m.def("to_bfloat16", &to_bfloat16, py::arg("x"),
          "float32/float64 -> bfloat16 bits (uint16), round to nearest even (float64 through float32, as PyTorch).");
    m.def("from_bfloat16", &from_bfloat16, py::arg("x"), "bfloat16 bits (uint16) -> float32 (exact).");
}

}  // namespace tg
