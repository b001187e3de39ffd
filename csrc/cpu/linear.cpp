// The bias pass of Linear's forward (y = x W^T + b) on MKL (tensorgrad/backend/blas.py):
//   linear_bias_fill(y, b):  y[i, :] = b for every row, before a GEMM that adds x W^T to y (beta = 1),
// as PyTorch's addmm does. NumPy's `y += b` after the GEMM runs on one thread, and at 2 threads it cost a third
// of the GEMM itself (768 x 384 output), mostly reading the half of y that the other core's L2 holds. Rows
// are split statically over the threads, as MKL splits the GEMM's rows, so each core fills what it will then
// accumulate into: fill + GEMM then costs 5% over the bare GEMM.
#include "tg_common.h"

namespace tg {

template <class T>
static void bias_fill_impl(T* __restrict y, const T* __restrict b, int64_t M, int64_t N) {
#pragma omp parallel for schedule(static) num_threads(threads_for(M * N))
    for (int64_t i = 0; i < M; ++i) std::memcpy(y + i * N, b, sizeof(T) * N);
}

// ------------------------------------------------------------------------------------------- bindings
static void check_rows(const py::array& y, const char* K, const char* name) {
    if (y.ndim() != 2 || !(y.flags() & py::array::c_style))
        fail(K, std::string(name) + " must be a C-contiguous 2-D array, got " + describe(y));
}

static void linear_bias_fill(py::array y, py::array b) {
    const char* K = "linear_bias_fill";
    const DType dt = dtype_of(y, K, "y");
    check_rows(y, K, "y");
    check_same_dtype(b, y, K, "b", "y");
    if (b.ndim() != 1 || b.shape(0) != y.shape(1) || !(b.flags() & py::array::c_style))
        fail(K, "b must be C-contiguous of shape (" + std::to_string(y.shape(1)) + ",), got " + describe(b));
    if (!y.writeable()) fail(K, "y must be writeable");
    py::gil_scoped_release nogil;
    if (dt == DType::F32)
        bias_fill_impl<float>(static_cast<float*>(y.mutable_data()), cptr<float>(b), y.shape(0), y.shape(1));
    else
        bias_fill_impl<double>(static_cast<double*>(y.mutable_data()), cptr<double>(b), y.shape(0), y.shape(1));
}

void register_linear(py::module_& m) {
    m.def("linear_bias_fill", &linear_bias_fill, py::arg("y"), py::arg("b"), "y[i, :] = b for every row, in place.");
}

}  // namespace tg
