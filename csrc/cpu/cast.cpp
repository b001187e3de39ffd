// float32 / float64 <-> bfloat16 and float32 <-> float16 conversion, elementwise over C-contiguous arrays.
// bfloat16 travels as its bits (uint16; tensorgrad/backend/cpu.py views them as ml_dtypes.bfloat16).
//
// to_bfloat16:   b = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 on the float32 bits u: round to nearest, ties to even,
//                subnormals kept (PyTorch's c10::BFloat16 and its AVX-512 path do the same); NaN -> quiet NaN of
//                the same sign (u >> 16 | 0x40, as ml_dtypes). float64 is rounded to float32 first, as PyTorch's
//                cast (static_cast<BFloat16>(double) goes through float).
// from_bfloat16: u = b << 16 (exact).
// Both write their output with `=`; the element conversions are tg_common.h's float_to_bf16 / bf16_to_float.
// to_float16 / from_float16: F16C / AVX-512 conversion instructions (below), where the CPU has them.
//
// GCC 12 reports its own _mm512_undefined_* inside the AVX-512 conversion intrinsics as maybe-uninitialized (a
// false positive of the headers, seen when they inline here): silenced for this file, before any header is read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "tg_common.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

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

#if defined(__F16C__)
#define TG_HAVE_F16 1
// float32 <-> float16 with the F16C / AVX-512 conversion instructions (IEEE binary16: round to nearest even,
// subnormals, inf and NaN as NumPy's astype gives them): NumPy's astype took about 2 ns per element here, and made
// an fp16 GEMM's upcast cost more than the sgemm itself. Each thread converts one contiguous chunk.
static void to_f16_impl(const float* __restrict x, uint16_t* __restrict y, int64_t n) {
#pragma omp parallel num_threads(threads_from(n, kCastMin))
    {
        auto [i, hi] = thread_chunk(n);
#if defined(__AVX512F__)
        for (; i + 16 <= hi; i += 16)
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i),
                                _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
        for (; i + 8 <= hi; i += 8)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < hi; ++i) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
    }
}

static void from_f16_impl(const uint16_t* __restrict x, float* __restrict y, int64_t n) {
#pragma omp parallel num_threads(threads_from(n, kCastMin))
    {
        auto [i, hi] = thread_chunk(n);
#if defined(__AVX512F__)
        for (; i + 16 <= hi; i += 16)
            _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
#endif
        for (; i + 8 <= hi; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
        for (; i < hi; ++i) y[i] = _cvtsh_ss(x[i]);
    }
}
#endif

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
    if (!dtype_is<uint16_t>(x)) fail(K, "x must be bfloat16 bits (uint16), got " + describe(x));
    if (!(x.flags() & py::array::c_style)) fail(K, "x must be C-contiguous, got " + describe(x));
    py::array_t<float> y(shape_vec(x));
    const int64_t n = x.size();
    {
        py::gil_scoped_release nogil;
        from_bf16_impl(cptr<uint16_t>(x), y.mutable_data(), n);
    }
    return y;
}

#if defined(TG_HAVE_F16)
static py::array to_float16(py::array x) {
    const char* K = "to_float16";
    if (!dtype_is<float>(x)) fail(K, "x must be float32, got " + describe(x));
    if (!(x.flags() & py::array::c_style)) fail(K, "x must be C-contiguous, got " + describe(x));
    py::array y(py::dtype("float16"), shape_vec(x));
    const int64_t n = x.size();
    {
        py::gil_scoped_release nogil;
        to_f16_impl(cptr<float>(x), static_cast<uint16_t*>(y.mutable_data()), n);
    }
    return y;
}

static py::array from_float16(py::array x) {
    const char* K = "from_float16";
    if (!dtype_equal(x.dtype(), py::dtype("float16"))) fail(K, "x must be float16, got " + describe(x));
    if (!(x.flags() & py::array::c_style)) fail(K, "x must be C-contiguous, got " + describe(x));
    py::array_t<float> y(shape_vec(x));
    const int64_t n = x.size();
    {
        py::gil_scoped_release nogil;
        from_f16_impl(static_cast<const uint16_t*>(x.data()), y.mutable_data(), n);
    }
    return y;
}
#endif

void register_cast(py::module_& m) {
    m.def("to_bfloat16", &to_bfloat16, py::arg("x"),
          "float32/float64 -> bfloat16 bits (uint16), round to nearest even (float64 through float32, as PyTorch).");
    m.def("from_bfloat16", &from_bfloat16, py::arg("x"), "bfloat16 bits (uint16) -> float32 (exact).");
#if defined(TG_HAVE_F16)
    m.def("to_float16", &to_float16, py::arg("x"), "float32 -> float16, round to nearest even (as NumPy's astype).");
    m.def("from_float16", &from_float16, py::arg("x"), "float16 -> float32 (exact).");
#endif
}

}  // namespace tg
