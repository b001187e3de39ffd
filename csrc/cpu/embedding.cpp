// Embedding backward: dweight[idx[i], :] += dy[i, :] over the rows i of dy (N, C), dweight (n, C) zeroed first.
// NumPy's np.add.at does this element by element through its generic indexing machinery (0.8 ms per baby-GPT
// step, the two embeddings together); this is one pass over dy. Threads split the columns, so every thread
// owns its slice of each dweight row: no atomics, and the sums keep the row order (deterministic).
#include "tg_common.h"

namespace tg {

template <class T>
static void embedding_backward_impl(const int64_t* __restrict idx, const T* __restrict dy, T* __restrict dw,
                                    int64_t N, int64_t C, int64_t n) {
    std::fill(dw, dw + n * C, T(0));
    const int64_t cb = 64;  // columns per task: a cache line of each row at least
    const int64_t ntask = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) num_threads((int)std::min<int64_t>(threads_for(N * C), ntask))
    for (int64_t t = 0; t < ntask; ++t) {
        const int64_t c0 = t * cb, c1 = std::min(C, c0 + cb);
        for (int64_t i = 0; i < N; ++i) {
            T* __restrict out = dw + idx[i] * C;
            const T* __restrict g = dy + i * C;
#pragma omp simd
            for (int64_t c = c0; c < c1; ++c) out[c] += g[c];
        }
    }
}

static py::array embedding_backward(py::array idx, py::array dy, int64_t n) {
    const char* K = "embedding_backward";
    const DType dt = dtype_of(dy, K, "dy");
    check(dy, K, "dy", {-1, -1});
    const int64_t N = dy.shape(0), C = dy.shape(1);
    if (!py::isinstance<py::array_t<int64_t>>(idx) || idx.ndim() != 1 || idx.shape(0) != N ||
        !(idx.flags() & py::array::c_style))
        fail(K, "idx must be a C-contiguous int64 array of shape (" + std::to_string(N) + ",), got " + describe(idx) +
                    " " + std::string(py::str(idx.dtype())));
    if (n < 0) fail(K, "num_embeddings must be >= 0, got " + std::to_string(n));
    const int64_t* ip = cptr<int64_t>(idx);
    for (int64_t i = 0; i < N; ++i)
        if (ip[i] < 0 || ip[i] >= n)
            fail(K, "index " + std::to_string(ip[i]) + " at position " + std::to_string(i) +
                        " is out of range for num_embeddings=" + std::to_string(n));
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto dw = empty<T>({n, C});
        {
            py::gil_scoped_release nogil;
            embedding_backward_impl<T>(ip, cptr<T>(dy), dw.mutable_data(), N, C, n);
        }
        return dw;
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_embedding(py::module_& m) {
    m.def("embedding_backward", &embedding_backward, py::arg("idx"), py::arg("dy"), py::arg("num_embeddings"),
          "dweight (num_embeddings, C) with dweight[idx[i]] += dy[i] for a 2-D dy.");
}

}  // namespace tg
