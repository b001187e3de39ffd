// Sum of a C-contiguous float32/float64 array viewed as (outer, n, inner) over its middle axis, on the OpenMP
// threads: NumPy reduces on one thread, so a 6.3M-element sum at 2 threads took 1.8x PyTorch's time.
//
// reduce_sum(a, outer, n, inner) -> array (outer, inner) of a's dtype. backend/cpu.py brings a reduction over one
// contiguous run of dims to this form and keeps everything else on NumPy.
//
// Accuracy and determinism: elements are added in blocks (kBlock along a row, kRowBlock rows down a column) whose
// float sums go into double accumulators, so the error is that of a kBlock-element float sum plus double rounding;
// better than NumPy's sequential float sum down columns and about its pairwise sum along rows. The blocks depend on the
// shape alone and partial sums combine in a fixed order, so results do not depend on the number of threads.
#include <vector>

#include "tg_common.h"

namespace tg {

constexpr int64_t kBlock = 4096;   // elements of a row summed in T before the double accumulator takes them
constexpr int64_t kRowBlock = 64;  // rows summed in T per column before the double accumulator
// Columns one pass keeps in accumulators (16 KB of T, in L1). Rows are read whole up to this width: reading narrower
// tiles down the rows restarted the hardware prefetcher at every row and halved the bandwidth. Wider arrays are
// split into tiles of this width, the threads taking tiles instead of rows.
constexpr int64_t kTile = 4096;
constexpr int64_t kChunk = 1 << 18;  // elements per fixed chunk of rows whose partial sums combine in chunk order

template <class T>
static double row_sum(const T* __restrict x, int64_t n) {
    // kLanes independent accumulators (four AVX-512 registers of float): one would chain every add on the last.
    constexpr int64_t kLanes = 64;
    double total = 0.0;
    for (int64_t b = 0; b < n; b += kBlock) {
        const int64_t e = std::min(n, b + kBlock);
        alignas(64) T acc[kLanes] = {};
        int64_t i = b;
        for (; i + kLanes <= e; i += kLanes) {
#pragma omp simd
            for (int64_t j = 0; j < kLanes; ++j) acc[j] += x[i + j];
        }
        for (; i < e; ++i) acc[i & (kLanes - 1)] += x[i];
        for (int64_t w = kLanes / 2; w >= 1; w /= 2)  // a tree: vector adds first, 6 levels instead of 64 in a row
            for (int64_t j = 0; j < w; ++j) acc[j] += acc[j + w];
        total += acc[0];
    }
    return total;
}

// Rows [r0, r1) of an (n, inner) slab, columns [c0, c1) (c1 - c0 <= kTile), summed into out[0..c1 - c0) (double).
template <class T>
static void column_sum(const T* __restrict x, int64_t inner, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                       double* __restrict out) {
    alignas(64) T acc[kTile];
    const int64_t w = c1 - c0;
    for (int64_t c = 0; c < w; ++c) out[c] = 0.0;
    for (int64_t b = r0; b < r1; b += kRowBlock) {
        const int64_t e = std::min(r1, b + kRowBlock);
        for (int64_t c = 0; c < w; ++c) acc[c] = 0;
        for (int64_t r = b; r < e; ++r) {
            const T* row = x + r * inner + c0;
#pragma omp simd
            for (int64_t c = 0; c < w; ++c) acc[c] += row[c];
        }
        for (int64_t c = 0; c < w; ++c) out[c] += acc[c];
    }
}

// Not inlined: inlined into the chunked loop below, GCC left row_sum's reduction unvectorized (5x slower).
template <class T>
__attribute__((noinline)) static void slab_sum(const T* x, int64_t n, int64_t inner, double* out) {
    if (inner == 1) {
        out[0] = row_sum(x, n);
        return;
    }
    for (int64_t c = 0; c < inner; c += kTile) column_sum(x, inner, 0, n, c, std::min(inner, c + kTile), out + c);
}

template <class T>
static void reduce_sum_impl(const T* x, int64_t outer, int64_t n, int64_t inner, T* y) {
    const int threads = omp_get_max_threads();
    if (outer >= 4 * threads || n == 0) {  // enough independent slabs: one thread per slab
#pragma omp parallel num_threads(threads)
        {
            std::vector<double> acc(inner);
#pragma omp for schedule(static)
            for (int64_t o = 0; o < outer; ++o) {
                slab_sum(x + o * n * inner, n, inner, acc.data());
                for (int64_t c = 0; c < inner; ++c) y[o * inner + c] = static_cast<T>(acc[c]);
            }
        }
        return;
    }
    for (int64_t o = 0; o < outer; ++o) {
        const T* xs = x + o * n * inner;
        T* ys = y + o * inner;
        if (inner > kTile) {  // columns to spare: each thread its own tiles, all rows
            const int64_t tiles = (inner + kTile - 1) / kTile;
#pragma omp parallel num_threads(threads)
            {
                double acc[kTile];
#pragma omp for schedule(static)
                for (int64_t t = 0; t < tiles; ++t) {
                    const int64_t c0 = t * kTile, c1 = std::min(inner, c0 + kTile);
                    column_sum(xs, inner, 0, n, c0, c1, acc);
                    for (int64_t c = c0; c < c1; ++c) ys[c] = static_cast<T>(acc[c - c0]);
                }
            }
            continue;
        }
        // Few columns: split the rows into fixed chunks of about kChunk elements, one double partial per chunk,
        // combined in chunk order.
        const int64_t rows = std::max<int64_t>(1, kChunk / std::max<int64_t>(inner, 1));
        const int64_t chunks = (n + rows - 1) / rows;
        std::vector<double> part(chunks * inner);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t k = 0; k < chunks; ++k) {
            const int64_t r0 = k * rows, r1 = std::min(n, r0 + rows);
            slab_sum(xs + r0 * inner, r1 - r0, inner, part.data() + k * inner);
        }
        for (int64_t c = 0; c < inner; ++c) {
            double s = 0.0;
            for (int64_t k = 0; k < chunks; ++k) s += part[k * inner + c];
            ys[c] = static_cast<T>(s);
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
static py::array reduce_sum(py::array a, int64_t outer, int64_t n, int64_t inner) {
    const char* K = "reduce_sum";
    const DType dt = dtype_of(a, K, "a");
    if (!(a.flags() & py::array::c_style)) fail(K, "a must be C-contiguous, got " + describe(a));
    if (outer < 0 || n < 0 || inner < 0 || outer * n * inner != static_cast<int64_t>(a.size()))
        fail(K, "(outer, n, inner) = (" + std::to_string(outer) + ", " + std::to_string(n) + ", " +
                    std::to_string(inner) + ") does not match " + describe(a));
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> y({static_cast<py::ssize_t>(outer), static_cast<py::ssize_t>(inner)});
        {
            py::gil_scoped_release nogil;
            reduce_sum_impl<T>(cptr<T>(a), outer, n, inner, y.mutable_data());
        }
        return y;
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_reduce_sum(py::module_& m) {
    m.def("reduce_sum", &reduce_sum, py::arg("a"), py::arg("outer"), py::arg("n"), py::arg("inner"),
          "Sum of a C-contiguous float32/float64 array seen as (outer, n, inner) over n, shape (outer, inner), on the "
          "OpenMP threads (float blocks into double accumulators; deterministic for any thread count).");
}

}  // namespace tg
