// AdamW, one fused in-place update over a list of parameter arrays (float32 or float64 master weights).
//
// bc1 = 1 - beta1^step, bc2 = 1 - beta2^step
// p = p * (1 - lr * wd)                              (decoupled weight decay)
// m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
// p = p - (lr / bc1) * m / (sqrt(v / bc2) + eps)
// p, m, v are overwritten in place (`=`); g is read only. All tensors are cut into chunks of kChunk elements and
// the chunks of all tensors form one OpenMP loop, so many small tensors cost one parallel region, not many.
#include "tg_common.h"

namespace tg {

constexpr int64_t kChunk = 1 << 14;

struct Chunk {
    void* p;
    const void* g;
    void* m;
    void* v;
    int64_t n;
    bool f64;
};

template <class T>
static void adamw_chunk(const Chunk& c, double lr, double beta1, double beta2, double eps, double wd, double bc1,
                        double bc2) {
    T* __restrict p = static_cast<T*>(c.p);
    const T* __restrict g = static_cast<const T*>(c.g);
    T* __restrict m = static_cast<T*>(c.m);
    T* __restrict v = static_cast<T*>(c.v);
    const T decay = T(1.0 - lr * wd), b1 = T(beta1), b2 = T(beta2), one_b1 = T(1.0 - beta1), one_b2 = T(1.0 - beta2);
    const T step = T(lr / bc1), inv_bc2 = T(1.0 / bc2), e = T(eps);
#pragma omp simd
    for (int64_t i = 0; i < c.n; ++i) {
        const T gi = g[i];
        const T mi = b1 * m[i] + one_b1 * gi;
        const T vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (std::sqrt(vi * inv_bc2) + e);
    }
}

static void adamw_step(py::list params, py::list grads, py::list exp_avgs, py::list exp_avg_sqs, double lr,
                       double beta1, double beta2, double eps, double weight_decay, int64_t step) {
    const char* K = "adamw_step";
    const size_t n = params.size();
    if (grads.size() != n || exp_avgs.size() != n || exp_avg_sqs.size() != n)
        fail(K, "params, grads, exp_avgs, exp_avg_sqs must have equal lengths, got " + std::to_string(n) + ", " +
                    std::to_string(grads.size()) + ", " + std::to_string(exp_avgs.size()) + ", " +
                    std::to_string(exp_avg_sqs.size()));
    if (step < 1) fail(K, "step must be >= 1, got " + std::to_string(step));
    std::vector<Chunk> chunks;
    std::vector<py::array> keep;  // holds references while the GIL is released
    keep.reserve(4 * n);
    int64_t total = 0;
    for (size_t t = 0; t < n; ++t) {
        py::array a[4] = {params[t].cast<py::array>(), grads[t].cast<py::array>(), exp_avgs[t].cast<py::array>(),
                          exp_avg_sqs[t].cast<py::array>()};
        const char* names[4] = {"params", "grads", "exp_avgs", "exp_avg_sqs"};
        const DType dt = dtype_of(a[0], K, "params[i]");
        for (int r = 0; r < 4; ++r) {
            const std::string nm = std::string(names[r]) + "[" + std::to_string(t) + "]";
            if (!(a[r].flags() & py::array::c_style)) fail(K, nm + " must be C-contiguous, got " + describe(a[r]));
            if (!dtype_equal(a[r].dtype(), a[0].dtype()) || a[r].size() != a[0].size())
                fail(K, nm + " " + describe(a[r]) + " must match params[" + std::to_string(t) + "] " +
                            describe(a[0]));
            if (r != 1 && !a[r].writeable()) fail(K, nm + " must be writeable");
            keep.push_back(a[r]);
        }
        const int64_t sz = a[0].size();
        const int64_t item = dt == DType::F64 ? 8 : 4;
        char* p = static_cast<char*>(a[0].mutable_data());
        const char* g = static_cast<const char*>(a[1].data());
        char* m = static_cast<char*>(a[2].mutable_data());
        char* v = static_cast<char*>(a[3].mutable_data());
        for (int64_t off = 0; off < sz; off += kChunk) {
            const int64_t b = off * item;
            chunks.push_back({p + b, g + b, m + b, v + b, std::min(kChunk, sz - off), dt == DType::F64});
        }
        total += sz;
    }
    const double bc1 = 1.0 - std::pow(beta1, (double)step), bc2 = 1.0 - std::pow(beta2, (double)step);
    py::gil_scoped_release nogil;
    const int64_t nc = (int64_t)chunks.size();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_for(total))
    for (int64_t c = 0; c < nc; ++c) {
        if (chunks[c].f64)
            adamw_chunk<double>(chunks[c], lr, beta1, beta2, eps, weight_decay, bc1, bc2);
        else
            adamw_chunk<float>(chunks[c], lr, beta1, beta2, eps, weight_decay, bc1, bc2);
    }
}

void register_adamw(py::module_& m) {
    m.def("adamw_step", &adamw_step, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"),
          py::arg("exp_avg_sqs"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
          py::arg("weight_decay"), py::arg("step"), "Fused in-place AdamW update over lists of arrays.");
}

}  // namespace tg
