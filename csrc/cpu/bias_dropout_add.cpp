// bias_dropout_add: out = x + dropout_p(h + bias), the GPT's residual branch after c_proj in one pass (a Linear without
// its bias writes h), with the dropout mask regenerated in backward, never stored.
//
// forward(x, h, bias, p, seed, offset) -> out, x and h of one shape, bias (C,) over h's last dim or None;
// backward(g, p, seed, offset) -> dh = g * keep / (1 - p) (dx is g itself; dbias is dh summed over the rows, which
// the caller takes with the threaded reduce_sum). keep is csrc/common/philox.h's tg_elem_dropout_keep: flat element e
// takes word e % 4 of Philox(seed, (e / 4, offset)). float32 / float64, C-contiguous; the reference is
// backend/reference.py's bias_dropout_add_forward/backward, which draws the same words.
#include "philox.h"
#include "tg_common.h"

namespace tg {

constexpr int64_t kGroups = 256;  // Philox calls per batch: 1,024 elements' words, drawn first so the loop vectorizes

// Words for elements [4 g0, 4 (g0 + n)) into w (4 n words).
static TG_INLINE void draw(uint64_t seed, uint64_t offset, int64_t g0, int64_t n, uint32_t* __restrict w) {
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32), c2 = (uint32_t)offset, c3 = (uint32_t)(offset >> 32);
#pragma omp simd
    for (int64_t g = 0; g < n; ++g) {
        const uint64_t c = (uint64_t)(g0 + g);
        uint32_t a = (uint32_t)c, b = (uint32_t)(c >> 32), cc = c2, d = c3;
        tg_philox_rounds(a, b, cc, d, k0, k1);
        w[4 * g] = a;
        w[4 * g + 1] = b;
        w[4 * g + 2] = cc;
        w[4 * g + 3] = d;
    }
}

// bias == nullptr: none. out = x + keep * scale * (h + bias); dh (backward) = keep * scale * g, with x = nullptr,
// bias = nullptr.
template <class T>
static void run(const T* __restrict x, const T* __restrict h, const T* __restrict bias, T* __restrict out, int64_t n,
                int64_t C, double p, uint64_t seed, uint64_t offset) {
    const uint32_t thr = tg_dropout_threshold(p);
    const T scale = T(tg_dropout_keep_scale(p));
    const int64_t batches = (n + 4 * kGroups - 1) / (4 * kGroups);
#pragma omp parallel for schedule(static) num_threads(threads_from(n, kElementwiseMin / 4))
    for (int64_t bt = 0; bt < batches; ++bt) {
        alignas(64) uint32_t w[4 * kGroups];
        const int64_t e0 = bt * 4 * kGroups, e1 = std::min(n, e0 + 4 * kGroups);
        draw(seed, offset, e0 / 4, (e1 - e0 + 3) / 4, w);
        if (bias) {  // row pieces, so that the bias index runs with e
            for (int64_t e = e0; e < e1;) {
                const int64_t c0 = e % C, len = std::min(e1 - e, C - c0);
                const uint32_t* ws = w + (e - e0);
                const T* bs = bias + c0;
#pragma omp simd
                for (int64_t k = 0; k < len; ++k)
                    out[e + k] = x[e + k] + ((ws[k] >> 8) >= thr ? scale : T(0)) * (h[e + k] + bs[k]);
                e += len;
            }
        } else if (x) {
#pragma omp simd
            for (int64_t e = e0; e < e1; ++e) out[e] = x[e] + ((w[e - e0] >> 8) >= thr ? scale : T(0)) * h[e];
        } else {
#pragma omp simd
            for (int64_t e = e0; e < e1; ++e) out[e] = ((w[e - e0] >> 8) >= thr ? scale : T(0)) * h[e];
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
static void check_p(const char* K, double p) {
    if (!(p >= 0.0 && p <= 1.0)) fail(K, "p must be in [0, 1], got " + std::to_string(p));
}

static py::array bias_dropout_add_forward(py::array x, py::array h, py::object bias, double p, uint64_t seed,
                                          uint64_t offset) {
    const char* K = "bias_dropout_add_forward";
    check_p(K, p);
    const DType dt = dtype_of(h, K, "h");
    check_same_dtype(x, h, K, "x", "h");
    for (const py::array* a : {&x, &h})
        if (!(a->flags() & py::array::c_style)) fail(K, "x and h must be C-contiguous, got " + describe(*a));
    if (x.ndim() != h.ndim() || !std::equal(x.shape(), x.shape() + x.ndim(), h.shape()))
        fail(K, "x and h must have one shape, got " + describe(x) + " and " + describe(h));
    const int64_t C = h.ndim() ? h.shape(h.ndim() - 1) : 1;
    py::array b;  // (a default py::array is an empty array, not a null handle: has_bias says whether there is one)
    const bool has_bias = !bias.is_none();
    if (has_bias) {
        b = py::array::ensure(bias);
        if (!b) fail(K, "bias must be an array or None");
        check_same_dtype(b, h, K, "bias", "h");
        if (b.ndim() != 1 || b.shape(0) != C || !(b.flags() & py::array::c_style))
            fail(K, "bias must be a C-contiguous (" + std::to_string(C) + ",) array (h's last dim), got " + describe(b));
    }
    std::vector<py::ssize_t> shape(h.shape(), h.shape() + h.ndim());
    const int64_t n = h.size();
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> y(shape);
        if (n) {
            py::gil_scoped_release nogil;
            run<T>(cptr<T>(x), cptr<T>(h), has_bias ? cptr<T>(b) : nullptr, y.mutable_data(), n, C, p, seed, offset);
        }
        return y;
    };
    return dt == DType::F32 ? go(float()) : go(double());
}

static py::array bias_dropout_add_backward(py::array g, double p, uint64_t seed, uint64_t offset) {
    const char* K = "bias_dropout_add_backward";
    check_p(K, p);
    const DType dt = dtype_of(g, K, "g");
    if (!(g.flags() & py::array::c_style)) fail(K, "g must be C-contiguous, got " + describe(g));
    std::vector<py::ssize_t> shape(g.shape(), g.shape() + g.ndim());
    const int64_t n = g.size();
    auto go = [&](auto tag) -> py::array {
        using T = decltype(tag);
        py::array_t<T> dh(shape);
        if (n) {
            py::gil_scoped_release nogil;
            run<T>(nullptr, cptr<T>(g), nullptr, dh.mutable_data(), n, 1, p, seed, offset);
        }
        return dh;
    };
    return dt == DType::F32 ? go(float()) : go(double());
}

void register_bias_dropout_add(py::module_& m) {
    m.def("bias_dropout_add_forward", &bias_dropout_add_forward, py::arg("x"), py::arg("h"), py::arg("bias"),
          py::arg("p"), py::arg("seed"), py::arg("offset"),
          "x + dropout_p(h + bias) with the Philox mask at (seed, offset) (csrc/common/philox.h, "
          "tg_elem_dropout_keep); bias (C,) over the last dim, or None.");
    m.def("bias_dropout_add_backward", &bias_dropout_add_backward, py::arg("g"), py::arg("p"), py::arg("seed"),
          py::arg("offset"), "dh = g * keep / (1 - p), the same mask as the forward at (seed, offset).");
}

}  // namespace tg
