// CTC loss (Graves et al. 2006), torch's F.ctc_loss: the log-space alpha / beta recursions of
// tensorgrad/backend/reference_ctc.py (the oracle; tensorgrad/ops/ctc.py states the math), one sample per OpenMP
// iteration (so the thread count changes no result), the states of one frame as an `omp simd` loop with exp and log
// written to vectorize: libm's are scalar calls, and a log-sum-exp of three per state is most of the work.
//
// labels (N, L) are the extended labels l' = (blank, s_1, blank, ..., s_S, blank) padded with blanks to L = 2 Smax + 1;
// sample n uses the first L_n = 2 S_n + 1 of them and the first T_n = input_lengths[n] frames.
// forward:  alpha (T, N, L) float64, written with `=`: the recursion for t < T_n, s < L_n, -inf elsewhere
//           (the backward reads no other entry); nll (N,) float64 = -logaddexp(alpha[T_n-1, L_n-1],
//           alpha[T_n-1, L_n-2]), -0.0 for T_n = 0 and an empty target, +inf for T_n = 0 and a non-empty one.
// backward: grad (T, N, C) in log_probs' dtype, written with `=`: for t < T_n
//               g_n * (exp(lp[t, n, c]) - sum_{s: l'_s = c} exp(alpha[t, s] + beta[t, s] + nll_n - lp[t, n, l'_s]))
//           (torch's gradient, which assumes log_softmax inputs), NaN where lp = -inf, NaN for a sample of +inf nll
//           (0 under zero_infinity), and g_n * 0 for t >= T_n. beta lives in two rows per sample, never stored.
// float32 inputs are computed in float64 as the reference computes them, rounded once when the gradient is stored.
#include "tg_common.h"

namespace tg {

namespace {

constexpr double kInf = INFINITY;

// log for double, vectorizable (fdlibm's e_log.c without its branches, < 1 ulp): x = 2^k m, m in [sqrt(2)/2,
// sqrt(2)), f = m - 1, s = f / (2 + f), log(m) = 2 atanh(s) = f - (the s^2 series). For positive normal x only: lse3
// passes a sum of exps in [1, 3].
TG_INLINE double log_pos(double x) {
    int64_t bits;
    std::memcpy(&bits, &x, 8);
    int64_t e = bits >> 52;  // the biased exponent (x > 0: no sign bit)
    const int64_t mbits = (bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL;
    double m;
    std::memcpy(&m, &mbits, 8);
    const bool big = m > 1.41421356237309504880;
    m = big ? m * 0.5 : m;
    e += big ? 1 : 0;
    // k = e - 1023 as a double without an int64 -> double conversion (none in AVX2): 2^52 + e has e in its mantissa
    const int64_t kbits = e + 0x4330000000000000LL;
    double k;
    std::memcpy(&k, &kbits, 8);
    k -= 4503599627370496.0 + 1023.0;
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
    // fdlibm's Lg1..Lg7
    const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 +
                           w * (2.857142874366239149e-01 +
                                w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    const double R = t2 + t1, hfsq = 0.5 * f * f;
    return k * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + k * 1.90821492927058770002e-10)) - f);
}

// exp for double, vectorizable: tg_common's exp_approx (~1 ulp), which clamps at 709; above that e^709 e^(x-709),
// so that e^(+inf) = +inf as in libm. (Below -708 it is 0 where libm still gives a subnormal: no effect here.)
TG_INLINE double exp_f64(double x) {
    const bool big = x > 709.0;
    const double r = exp_approx(big ? x - 709.0 : x);
    return big ? r * 8.218407461554972e+307 : r;
}

// log(e^a + e^b + e^c) = hi + log(1 + e^(lo - hi) + e^(mid - hi)): two exps, the largest term being 1. As NumPy's
// logaddexp: NaN if any is NaN, +-inf when the largest is (min / max by comparison would drop a NaN: tested apart).
TG_INLINE double lse3(double a, double b, double c) {
    const double ab_hi = a > b ? a : b, lo = a > b ? b : a;
    const double hi = ab_hi > c ? ab_hi : c, mid = ab_hi > c ? c : ab_hi;
    const double r = hi + log_pos(1.0 + exp_approx(lo - hi) + exp_approx(mid - hi));
    const bool nan = a != a || b != b || c != c;
    return nan ? a + b + c : (std::fabs(hi) == kInf ? hi : r);
}

// NumPy's npy_logaddexp, to the bit: the forward's nll goes through it as in the reference.
inline double logaddexp(double x, double y) {
    if (x == y) return x + 0.693147180559945309417232121458176568;  // also +-inf
    const double d = x - y;
    if (d > 0) return x + std::log1p(std::exp(-d));
    if (d <= 0) return y + std::log1p(std::exp(d));
    return d;  // NaN
}

struct Sample {
    int64_t T, S, L;  // frames, target labels, extended states used
    const int64_t* lab;
};

TG_INLINE Sample sample(const int64_t* labels, const int64_t* il, const int64_t* tl, int64_t n, int64_t L) {
    return {il[n], tl[n], 2 * tl[n] + 1, labels + n * L};
}

// skip[s] = 0 where the s-2 -> s transition is allowed (l'_s differs from the blank l'_0 and from l'_{s-2}), else
// -inf: added to alpha[t-1, s-2] as the reference adds its mask.
inline void skip_mask(const int64_t* lab, int64_t Ls, double* skip) {
    for (int64_t s = 0; s < Ls; ++s) skip[s] = s >= 2 && lab[s] != lab[0] && lab[s] != lab[s - 2] ? 0.0 : -kInf;
}

template <class T>
TG_INLINE void gather_row(const T* lp_t, const int64_t* lab, int64_t Ls, double* lpl) {
    for (int64_t s = 0; s < Ls; ++s) lpl[s] = double(lp_t[lab[s]]);
}

template <class T>
void forward_impl(const T* lp, const int64_t* labels, const int64_t* il, const int64_t* tl, double* nll,
                  double* alpha, int64_t Tm, int64_t N, int64_t C, int64_t L) {
#pragma omp parallel num_threads(int(std::max<int64_t>(1, std::min<int64_t>(N, threads_for(Tm * N * L)))))
    {
        // prev / cur: alpha rows behind two -inf states, so that s-1 and s-2 need no bounds test
        std::vector<double> bufs(2 * (L + 2), -kInf), skip(L), lpl(L);
        double* prev = bufs.data() + 2;
        double* cur = prev + L + 2;
#pragma omp for schedule(dynamic, 1)
        for (int64_t n = 0; n < N; ++n) {
            const Sample sm = sample(labels, il, tl, n, L);
            // rows past the input, and the states past the target's 2S+1 in the others, are -inf
            for (int64_t t = 0; t < Tm; ++t) {
                double* row = alpha + (t * N + n) * L;
                if (t < sm.T)
                    std::fill(row + sm.L, row + L, -kInf);
                else
                    std::fill_n(row, L, -kInf);
            }
            if (sm.T == 0) {
                nll[n] = sm.S == 0 ? -0.0 : kInf;
                continue;
            }
            const int64_t Ls = sm.L;
            skip_mask(sm.lab, Ls, skip.data());
            std::fill_n(prev, Ls, -kInf);
            prev[0] = double(lp[n * C + sm.lab[0]]);
            if (Ls > 1) prev[1] = double(lp[n * C + sm.lab[1]]);
            std::copy_n(prev, Ls, alpha + n * L);
            for (int64_t t = 1; t < sm.T; ++t) {
                gather_row(lp + (t * N + n) * C, sm.lab, Ls, lpl.data());
                const double* __restrict p = prev;
                const double* __restrict sk = skip.data();
                const double* __restrict e = lpl.data();
                double* __restrict c = cur;
#pragma omp simd
                for (int64_t s = 0; s < Ls; ++s) c[s] = e[s] + lse3(p[s], p[s - 1], p[s - 2] + sk[s]);
                std::copy_n(cur, Ls, alpha + (t * N + n) * L);
                std::swap(prev, cur);
            }
            const double end = prev[Ls - 1], end_1 = Ls > 1 ? prev[Ls - 2] : -kInf;
            nll[n] = -logaddexp(end, end_1);
        }
    }
}

template <class T>
void backward_impl(const double* g, const T* lp, const double* alpha, const double* nll, const int64_t* labels,
                   const int64_t* il, const int64_t* tl, T* out, bool zero_infinity, int64_t Tm, int64_t N, int64_t C,
                   int64_t L) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
#pragma omp parallel num_threads(int(std::max<int64_t>(1, std::min<int64_t>(N, threads_for(Tm * N * L)))))
    {
        // beta rows with two -inf states behind, for s+1 and s+2
        std::vector<double> bufs(2 * (L + 2), -kInf), skip(L), skip_up(L), lpl(L), occ(L), acc(C), ex(C);
        double* nxt = bufs.data();
        double* cur = nxt + L + 2;
#pragma omp for schedule(dynamic, 1)
        for (int64_t n = 0; n < N; ++n) {
            const Sample sm = sample(labels, il, tl, n, L);
            const int64_t Ls = sm.L, Tn = sm.T;
            const double gn = g[n], nl = nll[n];
            const bool impossible = nl == kInf;
            // frames past the input, and every frame of an impossible sample: no recursion to run
            const double dead = impossible ? (zero_infinity ? 0.0 : nan) : 0.0;
            for (int64_t t = impossible ? 0 : Tn; t < Tm; ++t)
                std::fill_n(out + (t * N + n) * C, C, T((t < Tn ? dead : 0.0) * gn));
            if (impossible || Tn == 0) continue;
            // skip_up[s] = skip[s + 2]: the s -> s+2 transition is the one alpha's s+2 takes from s
            skip_mask(sm.lab, Ls, skip.data());
            double* su = skip_up.data();
            for (int64_t s = 0; s < Ls; ++s) su[s] = s + 2 < Ls ? skip[s + 2] : -kInf;
            std::fill(bufs.begin(), bufs.end(), -kInf);  // (rows past Ls stay -inf for this sample)
            for (int64_t t = Tn - 1; t >= 0; --t) {
                const T* lp_t = lp + (t * N + n) * C;
                const double* a_t = alpha + (t * N + n) * L;
                gather_row(lp_t, sm.lab, Ls, lpl.data());
                const double* __restrict e = lpl.data();
                double* __restrict b = cur;
                if (t == Tn - 1) {
                    for (int64_t s = 0; s < Ls; ++s) b[s] = -kInf;
                    b[Ls - 1] = e[Ls - 1];
                    if (sm.S > 0) b[Ls - 2] = e[Ls - 2];
                } else {
                    const double* __restrict q = nxt;
                    const double* __restrict sk = su;
#pragma omp simd
                    for (int64_t s = 0; s < Ls; ++s) b[s] = e[s] + lse3(q[s], q[s + 1], q[s + 2] + sk[s]);
                }
                double* __restrict oc = occ.data();
#pragma omp simd
                for (int64_t s = 0; s < Ls; ++s) oc[s] = exp_f64(((a_t[s] + b[s]) + nl) - e[s]);
                std::fill(acc.begin(), acc.end(), 0.0);
                // in s order, NaN (exp(-inf + inf)) as 0 and +inf as the largest double: the reference's
                // bincount of np.nan_to_num
                for (int64_t s = 0; s < Ls; ++s) {
                    const double v = oc[s];
                    if (v == v) acc[sm.lab[s]] += v == kInf ? std::numeric_limits<double>::max() : v;
                }
                double* __restrict x = ex.data();
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) x[c] = double(lp_t[c]);
                T* o = out + (t * N + n) * C;
#pragma omp simd
                for (int64_t c = 0; c < C; ++c) {
                    const double v = x[c] == -kInf ? nan : exp_f64(x[c]) - acc[c];
                    o[c] = T(v * gn);
                }
                std::swap(nxt, cur);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------- bindings
void check_int64(const py::array& a, const char* K, const char* name, std::initializer_list<int64_t> shape) {
    check(a, K, name, shape);
    if (!dtype_is<int64_t>(a)) throw py::type_error(std::string("tensorgrad._C.") + K + ": " + name +
                                                     " must be int64, got " + describe(a));
}

// The shapes and values the kernels index by: a bad call raises instead of reading out of bounds.
void check_problem(const char* K, const py::array& lp, const py::array& labels, const py::array& il,
                   const py::array& tl) {
    check(lp, K, "log_probs", {-1, -1, -1});
    const int64_t T = lp.shape(0), N = lp.shape(1), C = lp.shape(2);
    check_int64(labels, K, "labels", {N, -1});
    check_int64(il, K, "input_lengths", {N});
    check_int64(tl, K, "target_lengths", {N});
    const int64_t L = labels.shape(1);
    if (L % 2 != 1) fail(K, "labels must hold 2 * Smax + 1 extended labels per sample, got " + describe(labels));
    if (C < 1) fail(K, "log_probs must have at least one class, got " + describe(lp));
    const int64_t* lab = cptr<int64_t>(labels);
    for (int64_t i = 0; i < N * L; ++i)
        if (lab[i] < 0 || lab[i] >= C)
            fail(K, "labels must be in [0, " + std::to_string(C) + "), got " + std::to_string(lab[i]));
    for (int64_t n = 0; n < N; ++n) {
        const int64_t i = cptr<int64_t>(il)[n], s = cptr<int64_t>(tl)[n];
        if (i < 0 || i > T)
            fail(K, "input_lengths must be in [0, " + std::to_string(T) + "], got " + std::to_string(i));
        if (s < 0 || 2 * s + 1 > L)
            fail(K, "target_lengths must be in [0, " + std::to_string(L / 2) + "] (labels " + describe(labels) +
                        "), got " + std::to_string(s));
    }
}

py::tuple ctc_loss_forward(py::array log_probs, py::array labels, py::array input_lengths, py::array target_lengths) {
    const char* K = "ctc_loss_forward";
    const DType dt = dtype_of(log_probs, K, "log_probs");
    check_problem(K, log_probs, labels, input_lengths, target_lengths);
    const int64_t T = log_probs.shape(0), N = log_probs.shape(1), C = log_probs.shape(2), L = labels.shape(1);
    auto nll = empty<double>({N});
    auto alpha = empty<double>({T, N, L});
    auto run = [&](auto tag) {
        using S = decltype(tag);
        py::gil_scoped_release nogil;
        forward_impl<S>(cptr<S>(log_probs), cptr<int64_t>(labels), cptr<int64_t>(input_lengths),
                        cptr<int64_t>(target_lengths), nll.mutable_data(), alpha.mutable_data(), T, N, C, L);
    };
    dt == DType::F32 ? run(float()) : run(double());
    return py::make_tuple(nll, alpha);
}

py::array ctc_loss_backward(py::array grad, py::array log_probs, py::array alpha, py::array nll, py::array labels,
                            py::array input_lengths, py::array target_lengths, bool zero_infinity) {
    const char* K = "ctc_loss_backward";
    const DType dt = dtype_of(log_probs, K, "log_probs");
    check_problem(K, log_probs, labels, input_lengths, target_lengths);
    const int64_t T = log_probs.shape(0), N = log_probs.shape(1), C = log_probs.shape(2), L = labels.shape(1);
    for (auto [a, name] : {std::pair<const py::array*, const char*>{&grad, "grad"}, {&nll, "nll"}}) {
        check(*a, K, name, {N});
        if (!dtype_is<double>(*a)) throw py::type_error(std::string("tensorgrad._C.") + K + ": " + name +
                                                         " must be float64, got " + describe(*a));
    }
    check(alpha, K, "alpha", {T, N, L});
    if (!dtype_is<double>(alpha)) throw py::type_error(std::string("tensorgrad._C.") + K +
                                                       ": alpha must be float64, got " + describe(alpha));
    auto run = [&](auto tag) -> py::array {
        using S = decltype(tag);
        auto out = empty<S>({T, N, C});
        {
            py::gil_scoped_release nogil;
            backward_impl<S>(cptr<double>(grad), cptr<S>(log_probs), cptr<double>(alpha), cptr<double>(nll),
                             cptr<int64_t>(labels), cptr<int64_t>(input_lengths), cptr<int64_t>(target_lengths),
                             out.mutable_data(), zero_infinity, T, N, C, L);
        }
        return out;
    };
    return dt == DType::F32 ? run(float()) : run(double());
}

}  // namespace

void register_ctc(py::module_& m) {
    m.def("ctc_loss_forward", &ctc_loss_forward, py::arg("log_probs"), py::arg("labels"), py::arg("input_lengths"),
          py::arg("target_lengths"),
          "CTC forward over log_probs (T, N, C) and extended labels (N, 2 Smax + 1): returns (nll (N,), alpha "
          "(T, N, L)), both float64.");
    m.def("ctc_loss_backward", &ctc_loss_backward, py::arg("grad"), py::arg("log_probs"), py::arg("alpha"),
          py::arg("nll"), py::arg("labels"), py::arg("input_lengths"), py::arg("target_lengths"),
          py::arg("zero_infinity"),
          "torch's CTC gradient for log_probs (T, N, C) in its dtype, from the forward's alpha and nll.");
}

}  // namespace tg
