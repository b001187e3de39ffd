// Shared helpers for the fused CPU kernels (csrc/cpu/*.cpp):
//   - argument checks that raise a Python error naming the kernel, the argument, its shape and dtype;
//   - dtype dispatch (float32 / float64 are computed natively; float16 is upcast in tensorgrad/backend/cpu.py);
//   - exp / erf / tanh written as straight-line arithmetic so that GCC vectorizes them inside
//     `#pragma omp simd` loops (libm's expf/erff are scalar calls and would dominate every kernel);
//   - an OpenMP threshold: forking threads costs microseconds, more than small kernels take.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace tg {

#define TG_INLINE inline __attribute__((always_inline))

// Work (in elements touched) below which a kernel runs on the calling thread only.
constexpr int64_t kParallelMin = 1 << 15;

inline int threads_for(int64_t work) {
    return work < kParallelMin ? 1 : omp_get_max_threads();
}

// Memory-bound passes (casts, elementwise arithmetic, select) are cheap per element: one thread until n elements
// repay the fork (about 100 us of work at one thread; on 2 busy cores a parallel region could wait a scheduler
// slice, ~10 ms). kElementwiseMin is also where tensorgrad/backend/kernels.py's THREADED_MIN sends arrays here.
constexpr int64_t kElementwiseMin = 1 << 18;

inline int threads_from(int64_t n, int64_t min_n) { return n < min_n ? 1 : omp_get_max_threads(); }

// Inside a parallel region: [lo, hi) of n items for the calling thread, one contiguous chunk each in thread order
// (for loops that peel to an alignment or step by vectors, which `omp for` cannot split on their boundaries).
inline std::pair<int64_t, int64_t> thread_chunk(int64_t n) {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    return {n * t / nt, n * (t + 1) / nt};
}

// ------------------------------------------------------------------------------------------- checks
inline std::string describe(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    if (a.ndim() == 1) s += ",";
    return s + ") " + std::string(py::str(a.dtype()));
}

[[noreturn]] inline void fail(const char* kernel, const std::string& msg) {
    throw py::value_error(std::string("tensorgrad._C.") + kernel + ": " + msg);
}

enum class DType { F32, F64 };

// A dtype equal to T's in native byte order. Identity (dtype.is) is not enough: an unpickled array (a tensor sent by a
// DataLoader worker, pickle.loads) carries its own float32 dtype object, equal to NumPy's but not the same one.
inline bool dtype_equal(const py::dtype& d, const py::dtype& want) {
    return d.is(want) || (d.num() == want.num() && d.byteorder() != '>' && want.byteorder() != '>');
}

template <typename T>
inline bool dtype_is(const py::array& a) { return dtype_equal(a.dtype(), py::dtype::of<T>()); }

inline DType dtype_of(const py::array& a, const char* kernel, const char* name) {
    if (dtype_is<float>(a)) return DType::F32;
    if (dtype_is<double>(a)) return DType::F64;
    throw py::type_error(std::string("tensorgrad._C.") + kernel + ": " + name + " must be float32 or float64, got " +
                         describe(a));
}

// bfloat16 travels as its bits (uint16 arrays; the Python launchers view ml_dtypes.bfloat16 as uint16). Only the
// kernels that say so take it (is_bf16_bits): dtype_of above still refuses uint16.
inline bool is_bf16_bits(const py::array& a) { return dtype_is<uint16_t>(a); }

// bfloat16 bits -> float32: exact.
TG_INLINE float bf16_to_float(uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// float32 -> bfloat16 bits: round to nearest, ties to even, subnormals kept (PyTorch's c10::BFloat16); NaN -> a
// quiet NaN of the same sign (as ml_dtypes). Not _mm512_cvtneps_pbh (AVX512-BF16), which flushes subnormals to
// zero where PyTorch does not; this integer form vectorizes to the same memory-bound loop (GCC, -march=native).
TG_INLINE uint16_t float_to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint16_t rne = uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    const bool nan = (u & 0x7FFFFFFFu) > 0x7F800000u;
    return nan ? uint16_t((u >> 16) | 0x40u) : rne;
}

// Elementwise kernels templated on the stored type S compute in Elem<S>::C: float32 and float64 as themselves,
// bfloat16 bits in float32 (PyTorch's opmath), converted on load and rounded once on store.
template <class S>
struct Elem {
    using C = S;
    static TG_INLINE C load(S v) { return v; }
    static TG_INLINE S store(C v) { return v; }
};
template <>
struct Elem<uint16_t> {
    using C = float;
    static TG_INLINE float load(uint16_t v) { return bf16_to_float(v); }
    static TG_INLINE uint16_t store(float v) { return float_to_bf16(v); }
};

// Checks ndim, C-contiguity and (where want[i] >= 0) each extent, so that a bad call raises instead of reading
// out of bounds.
inline void check(const py::array& a, const char* kernel, const char* name, std::initializer_list<int64_t> want) {
    bool ok = a.ndim() == (py::ssize_t)want.size();
    if (ok) {
        int i = 0;
        for (int64_t w : want) {
            ok = ok && (w < 0 || a.shape(i) == w);
            ++i;
        }
    }
    if (!ok) {
        std::string ws = "(";
        int i = 0;
        for (int64_t w : want) ws += (i++ ? ", " : "") + (w < 0 ? std::string("*") : std::to_string(w));
        fail(kernel, std::string(name) + " must have shape " + ws + (want.size() == 1 ? ",)" : ")") + ", got " +
                         describe(a));
    }
    if (!(a.flags() & py::array::c_style)) fail(kernel, std::string(name) + " must be C-contiguous, got " + describe(a));
}

inline void check_same_dtype(const py::array& a, const py::array& ref, const char* kernel, const char* name,
                             const char* refname) {
    if (!dtype_equal(a.dtype(), ref.dtype()))
        throw py::type_error(std::string("tensorgrad._C.") + kernel + ": " + name + " " + describe(a) +
                             " must have the dtype of " + refname + " " + describe(ref));
}

template <class T>
TG_INLINE const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <class T>
TG_INLINE T* mptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }

template <class T>
inline py::array_t<T> empty(std::initializer_list<py::ssize_t> shape) {
    return py::array_t<T>(std::vector<py::ssize_t>(shape));
}

// ------------------------------------------------------------------------------- vectorizable math
// exp: x = n*ln2 + r with |r| <= ln2/2, e^r by polynomial, 2^n assembled in the exponent bits. The rounding
// uses the 1.5*2^k "magic number" so that n also sits in the low mantissa bits (no float->int conversion,
// which AVX2 lacks for doubles). Below the normal range the result is flushed to exactly 0, like expf.
// Written once over F = float or double, or a GCC vector of them (I: the integer type of the same shape, for the
// exponent bits), so that kernels with explicit vector code compute exactly what the scalar calls compute.
template <class F, class I>
TG_INLINE F exp_approx_f32(F x) {
    const F magic = F{} + 12582912.0f;  // 1.5 * 2^23
    const F lo = F{} - 87.0f, hi = F{} + 88.0f;
    F xc = x < lo ? lo : (x > hi ? hi : x);
    F t = xc * 1.44269504088896341f + magic;
    F n = t - magic;
    F r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    F p = F{} + 1.9875691500e-4f;  // Cephes expf minimax, ~1 ulp
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    I ti, mi;
    std::memcpy(&ti, &t, sizeof(F));
    std::memcpy(&mi, &magic, sizeof(F));
    I bits = (ti - mi + 127) << 23;
    F scale;
    std::memcpy(&scale, &bits, sizeof(F));
    return x < lo ? F{} : p * scale;
}

template <class F, class I>
TG_INLINE F exp_approx_f64(F x) {
    const F magic = F{} + 6755399441055744.0;  // 1.5 * 2^52
    const F lo = F{} - 708.0, hi = F{} + 709.0;
    F xc = x < lo ? lo : (x > hi ? hi : x);
    F t = xc * 1.4426950408889634074 + magic;
    F n = t - magic;
    F r = xc - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    // Taylor to r^13: the r^14/14! remainder is < 1e-17 for |r| <= ln2/2, below double rounding.
    F p = F{} + 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    I ti, mi;
    std::memcpy(&ti, &t, sizeof(F));
    std::memcpy(&mi, &magic, sizeof(F));
    I bits = (ti - mi + 1023) << 52;
    F scale;
    std::memcpy(&scale, &bits, sizeof(F));
    return x < lo ? F{} : p * scale;
}

TG_INLINE float exp_approx(float x) { return exp_approx_f32<float, int32_t>(x); }
TG_INLINE double exp_approx(double x) { return exp_approx_f64<double, int64_t>(x); }

// ------------------------------------------------------------------------------- explicit vectors
// GCC vector types, for loops that GCC's auto-vectorizer handles badly: in the attention micro-kernels it kept
// `omp simd` accumulator arrays on the stack (a store and a reload per FMA), and it compiled max reductions to a
// scalar maxss chain. Vectors are one register wide: 64 bytes with AVX-512, else 32 (AVX2). (64-byte vectors split
// into AVX2 pairs doubled every micro-kernel's register count; the attention kernels spilled and ran ~10x slower.)
// kBlockVecs: how many vectors of columns a register-blocked micro-kernel keeps per row (R rows x kBlockVecs
// accumulators plus kBlockVecs loaded vectors fit the 32 AVX-512 or the 16 AVX2 registers).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kBlockVecs = 4;
#else
constexpr int kVecBytes = 32;
constexpr int kBlockVecs = 2;
#endif
template <class T>
struct Vec {
    typedef T type __attribute__((vector_size(kVecBytes)));
    static constexpr int N = kVecBytes / sizeof(T);
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
        typedef int32_t I __attribute__((vector_size(kVecBytes)));
        return exp_approx_f32<typename Vec<T>::type, I>(x);
    } else {
        typedef int64_t I __attribute__((vector_size(kVecBytes)));
        return exp_approx_f64<typename Vec<T>::type, I>(x);
    }
}

// {0, 1, ..., W-1}: lane numbers, to mask lanes (past a tile's visible keys, past a row's end).
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

// tanh(u) = 1 - 2 / (exp(2u) + 1): saturates cleanly to +-1, absolute error ~1 ulp of 1.
template <class T>
TG_INLINE T tanh_approx(T u) {
    return T(1) - T(2) / (exp_approx(T(2) * u) + T(1));
}

// erf for float: odd/even rational minimax on [-4, 4] (the form used by Eigen and XLA), a few ulp; beyond 4,
// erf is +-1 in float. float64 keeps std::erf, whose full precision the float64 tests rely on.
TG_INLINE float erf_approx(float a) {
    float x = a < -4.0f ? -4.0f : (a > 4.0f ? 4.0f : a);
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p / q;
}
TG_INLINE double erf_approx(double a) { return std::erf(a); }

}  // namespace tg
