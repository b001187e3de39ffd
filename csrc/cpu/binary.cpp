// Elementwise binary arithmetic (add, sub, mul, div) over large C-contiguous float32/float64 arrays, on the OpenMP
// threads: NumPy runs these on one thread, so at 2 threads a 6.3M-element add took twice PyTorch's time.
//
// binary(op, a, b): a and b of one dtype, either the same shape or one of them holding a single element (a Python
// scalar, a 0-d or size-1 array); out = a op b, a new C-contiguous array, written with `=`. IEEE results as NumPy's
// (the same single operation per element; division by zero gives inf/nan). Everything else (broadcasting, mixed
// dtypes, strides, small arrays) stays with NumPy: backend/cpu.py decides.
#include "tg_common.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace tg {

enum class BinOp { Add, Sub, Mul, Div };

template <class T, BinOp OP>
static TG_INLINE T apply_op(T x, T y) {
    if constexpr (OP == BinOp::Add) return x + y;
    if constexpr (OP == BinOp::Sub) return x - y;
    if constexpr (OP == BinOp::Mul) return x * y;
    return x / y;
}

// Outputs past the last-level cache are written with non-temporal stores: a plain store first reads the line it
// writes (read-for-ownership), a fourth stream of memory traffic beside a, b and y that the result never needs.
constexpr int64_t kStreamBytes = int64_t(8) << 20;

// One vector register of T: unaligned loads, streaming (aligned) stores; GCC and Clang give the vector types the
// arithmetic operators, so apply_op serves them as it serves scalars.
#if defined(__AVX512F__)
constexpr int64_t kStreamAlign = 64;
TG_INLINE __m512 vload(const float* p) { return _mm512_loadu_ps(p); }
TG_INLINE __m512d vload(const double* p) { return _mm512_loadu_pd(p); }
TG_INLINE void vstream(float* p, __m512 v) { _mm512_stream_ps(p, v); }
TG_INLINE void vstream(double* p, __m512d v) { _mm512_stream_pd(p, v); }
#elif defined(__AVX__)
constexpr int64_t kStreamAlign = 32;
TG_INLINE __m256 vload(const float* p) { return _mm256_loadu_ps(p); }
TG_INLINE __m256d vload(const double* p) { return _mm256_loadu_pd(p); }
TG_INLINE void vstream(float* p, __m256 v) { _mm256_stream_ps(p, v); }
TG_INLINE void vstream(double* p, __m256d v) { _mm256_stream_pd(p, v); }
#endif

template <class T, BinOp OP>
static void binary_stream(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n) {
#pragma omp parallel num_threads(omp_get_max_threads())
    {
        auto [i, hi] = thread_chunk(n);
#if defined(__AVX512F__) || defined(__AVX__)
        using V = decltype(vload(a));
        constexpr int64_t W = kStreamAlign / sizeof(T);
        for (; i < hi && reinterpret_cast<uintptr_t>(y + i) % kStreamAlign != 0; ++i) y[i] = apply_op<T, OP>(a[i], b[i]);
        for (; i + W <= hi; i += W) vstream(y + i, apply_op<V, OP>(vload(a + i), vload(b + i)));
        _mm_sfence();  // the streamed lines are visible before the array is handed back
#endif
        for (; i < hi; ++i) y[i] = apply_op<T, OP>(a[i], b[i]);
    }
}

// sa / sb: whether a / b is a single element broadcast over the other.
template <class T, BinOp OP>
static void binary_impl(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n, bool sa, bool sb) {
    if (sa) {
        const T x = a[0];
#pragma omp parallel for simd schedule(static) num_threads(threads_from(n, kElementwiseMin))
        for (int64_t i = 0; i < n; ++i) y[i] = apply_op<T, OP>(x, b[i]);
    } else if (sb) {
        const T z = b[0];
#pragma omp parallel for simd schedule(static) num_threads(threads_from(n, kElementwiseMin))
        for (int64_t i = 0; i < n; ++i) y[i] = apply_op<T, OP>(a[i], z);
    } else if (n * static_cast<int64_t>(sizeof(T)) >= kStreamBytes) {
        binary_stream<T, OP>(a, b, y, n);
    } else {
#pragma omp parallel for simd schedule(static) num_threads(threads_from(n, kElementwiseMin))
        for (int64_t i = 0; i < n; ++i) y[i] = apply_op<T, OP>(a[i], b[i]);
    }
}

template <class T>
static void dispatch(BinOp op, const T* a, const T* b, T* y, int64_t n, bool sa, bool sb) {
    switch (op) {
        case BinOp::Add: return binary_impl<T, BinOp::Add>(a, b, y, n, sa, sb);
        case BinOp::Sub: return binary_impl<T, BinOp::Sub>(a, b, y, n, sa, sb);
        case BinOp::Mul: return binary_impl<T, BinOp::Mul>(a, b, y, n, sa, sb);
        case BinOp::Div: return binary_impl<T, BinOp::Div>(a, b, y, n, sa, sb);
    }
}

// ------------------------------------------------------------------------------------------- bindings
static py::array binary(const std::string& op, py::array a, py::array b) {
    const char* K = "binary";
    BinOp o;
    if (op == "add") o = BinOp::Add;
    else if (op == "sub") o = BinOp::Sub;
    else if (op == "mul") o = BinOp::Mul;
    else if (op == "div") o = BinOp::Div;
    else fail(K, "op must be add, sub, mul or div, got '" + op + "'");
    const DType dt = dtype_of(a, K, "a");
    check_same_dtype(b, a, K, "b", "a");
    for (const py::array* x : {&a, &b})
        if (!(x->flags() & py::array::c_style)) fail(K, "operands must be C-contiguous, got " + describe(*x));
    const bool sa = a.size() == 1 && b.size() != 1, sb = b.size() == 1;
    const py::array& shape_of = sa ? b : a;
    if (!sa && !sb) {
        if (a.ndim() != b.ndim() || !std::equal(a.shape(), a.shape() + a.ndim(), b.shape()))
            fail(K, "operands must have one shape (or one of them a single element), got " + describe(a) + " and " +
                        describe(b));
    }
    std::vector<py::ssize_t> shape(shape_of.shape(), shape_of.shape() + shape_of.ndim());
    const int64_t n = shape_of.size();
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> y(shape);
        {
            py::gil_scoped_release nogil;
            dispatch<T>(o, cptr<T>(a), cptr<T>(b), y.mutable_data(), n, sa, sb);
        }
        return y;
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_binary(py::module_& m) {
    m.def("binary", &binary, py::arg("op"), py::arg("a"), py::arg("b"),
          "a op b (add, sub, mul, div) for C-contiguous float32/float64 arrays of one shape or one of them a single "
          "element, on the OpenMP threads.");
}

}  // namespace tg
