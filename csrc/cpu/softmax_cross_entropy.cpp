// Softmax cross-entropy over rows of logits (N, V) with integer targets (N,), label smoothing and ignore_index.
//
// q_i = (1 - ls) * onehot(t_i) + ls / V
// forward:  m_i = max_j x_ij, s_i = log sum_j exp(x_ij - m_i)
//           stats (N, 2) = [m_i, s_i]: the row's logsumexp in two parts, because m_i + s_i rounds s_i away when
//           |m_i| dwarfs it (float32 1e20 + 0.69 == 1e20) and torch's log_softmax keeps it     written with `=`
//           loss_i = (1 - ls) * ((m_i - x_i,t_i) + s_i) + ls * ((m_i - mean_j x_ij) + s_i), 0 if t_i == ignore_index
//                                                                                            written with `=`
//           Only stats is saved for backward; the probabilities are never stored.
// backward: dlogits_ij = (exp((x_ij - m_i) - s_i) - q_ij) * dloss_i, whole row 0 if ignored  written with `=`
//           (p is recomputed from stats in the same pass that writes dlogits).
#include "tg_common.h"

namespace tg {

// Row max, sum_j exp(x_j - max) and sum_j x_j in vector registers, the ragged tail in scalars. The `omp simd
// reduction(max)` form ran as a scalar maxss chain (the forward took twice PyTorch's time at one thread).
template <class T>
static TG_INLINE void row_stats(const T* __restrict xi, int64_t V, T& mx, T& se, T& sx) {
    using Vt = typename Vec<T>::type;
    constexpr int W = Vec<T>::N;
    const int64_t Vf = V - V % W;
    Vt mv = Vt{} - INFINITY;
    for (int64_t j = 0; j < Vf; j += W) {
        const Vt x = vload(xi + j);
        mv = mv > x ? mv : x;
    }
    mx = hreduce<T, true>(mv);
    for (int64_t j = Vf; j < V; ++j) mx = std::max(mx, xi[j]);
    Vt ev = Vt{}, xv = Vt{};
    for (int64_t j = 0; j < Vf; j += W) {
        const Vt x = vload(xi + j);
        ev += vexp<T>(x - mx);
        xv += x;
    }
    se = hreduce<T, false>(ev);
    sx = hreduce<T, false>(xv);
    for (int64_t j = Vf; j < V; ++j) se += exp_approx(xi[j] - mx), sx += xi[j];
}

template <class T>
static bool ce_forward_impl(const T* x, const int64_t* target, T* loss, T* stats, int64_t N, int64_t V,
                            int64_t ignore_index, T ls) {
    bool bad_target = false;
#pragma omp parallel for schedule(static) num_threads(threads_for(N * V)) reduction(|| : bad_target)
    for (int64_t i = 0; i < N; ++i) {
        const T* xi = x + i * V;
        T mx, se, sx;
        row_stats(xi, V, mx, se, sx);
        const T l = std::log(se);
        stats[2 * i] = mx;
        stats[2 * i + 1] = l;
        const int64_t t = target[i];
        if (t == ignore_index) {
            loss[i] = 0;
        } else if (t < 0 || t >= V) {
            bad_target = true;
            loss[i] = 0;
        } else {
            T li = (T(1) - ls) * ((mx - xi[t]) + l);
            if (ls != T(0)) li += ls * ((mx - sx / T(V)) + l);
            loss[i] = li;
        }
    }
    return !bad_target;
}

template <class T>
static void ce_backward_impl(const T* x, const int64_t* target, const T* stats, const T* dloss, T* dx, int64_t N,
                             int64_t V, int64_t ignore_index, T ls) {
    const T smooth = ls / T(V);
#pragma omp parallel for schedule(static) num_threads(threads_for(N * V))
    for (int64_t i = 0; i < N; ++i) {
        const T* xi = x + i * V;
        T* di = dx + i * V;
        const int64_t t = target[i];
        if (t == ignore_index || t < 0 || t >= V) {
            std::fill(di, di + V, T(0));
            continue;
        }
        const T m = stats[2 * i], l = stats[2 * i + 1], g = dloss[i];
#pragma omp simd
        for (int64_t j = 0; j < V; ++j) di[j] = (exp_approx((xi[j] - m) - l) - smooth) * g;
        di[t] -= (T(1) - ls) * g;
    }
}

// ------------------------------------------------------------------------------------------- bindings
static void check_target(const py::array& target, int64_t N, const char* K) {
    check(target, K, "target", {N});
    if (!dtype_is<int64_t>(target))
        throw py::type_error(std::string("tensorgrad._C.") + K + ": target must be int64, got " + describe(target));
}

static py::tuple softmax_cross_entropy_forward(py::array logits, py::array target, int64_t ignore_index,
                                               double label_smoothing) {
    const char* K = "softmax_cross_entropy_forward";
    const DType dt = dtype_of(logits, K, "logits");
    check(logits, K, "logits", {-1, -1});
    const int64_t N = logits.shape(0), V = logits.shape(1);
    if (V < 1) fail(K, "logits must have at least one class, got " + describe(logits));
    check_target(target, N, K);
    auto run = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        auto loss = empty<T>({N});
        auto stats = empty<T>({N, 2});
        bool ok;
        {
            py::gil_scoped_release nogil;
            ok = ce_forward_impl<T>(cptr<T>(logits), cptr<int64_t>(target), loss.mutable_data(), stats.mutable_data(), N,
                                    V, ignore_index, T(label_smoothing));
        }
        if (!ok) fail(K, "target holds a class index outside [0, " + std::to_string(V) + ") that is not ignore_index");
        return py::make_tuple(loss, stats);
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

static py::array softmax_cross_entropy_backward(py::array logits, py::array target, py::array stats, py::array dloss,
                                                int64_t ignore_index, double label_smoothing) {
    const char* K = "softmax_cross_entropy_backward";
    const DType dt = dtype_of(logits, K, "logits");
    check(logits, K, "logits", {-1, -1});
    const int64_t N = logits.shape(0), V = logits.shape(1);
    check_target(target, N, K);
    check(stats, K, "stats", {N, 2});
    check_same_dtype(stats, logits, K, "stats", "logits");
    check(dloss, K, "dloss", {N});
    check_same_dtype(dloss, logits, K, "dloss", "logits");
    auto run = [&](auto tag) -> py::array {
        using T = decltype(tag);
        auto dx = empty<T>({N, V});
        {
            py::gil_scoped_release nogil;
            ce_backward_impl<T>(cptr<T>(logits), cptr<int64_t>(target), cptr<T>(stats), cptr<T>(dloss),
                                dx.mutable_data(), N, V, ignore_index, T(label_smoothing));
        }
        return dx;
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

void register_softmax_cross_entropy(py::module_& m) {
    m.def("softmax_cross_entropy_forward", &softmax_cross_entropy_forward, py::arg("logits"), py::arg("target"),
          py::arg("ignore_index"), py::arg("label_smoothing"),
          "Per-row loss and logsumexp as (max, log sum exp(x - max)): returns (loss, stats (N, 2)).");
    m.def("softmax_cross_entropy_backward", &softmax_cross_entropy_backward, py::arg("logits"), py::arg("target"),
          py::arg("stats"), py::arg("dloss"), py::arg("ignore_index"), py::arg("label_smoothing"),
          "dlogits = (softmax(logits) - q) * dloss, recomputing softmax from stats.");
}

}  // namespace tg
