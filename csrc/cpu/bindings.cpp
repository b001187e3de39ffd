// The one Python module of the fused CPU kernels: tensorgrad._C. Each csrc/cpu/<op>.cpp registers its
// <op>_forward / <op>_backward here; tensorgrad/backend/cpu.py wraps them with the reference signatures.
#include "tg_common.h"

namespace tg {
void register_layernorm(py::module_& m);
void register_softmax_cross_entropy(py::module_& m);
void register_attention(py::module_& m);
void register_gelu(py::module_& m);
void register_adamw(py::module_& m);
void register_linear(py::module_& m);
void register_embedding(py::module_& m);
void register_cast(py::module_& m);
void register_binary(py::module_& m);
void register_where(py::module_& m);
void register_reduce_sum(py::module_& m);
void register_bias_dropout_add(py::module_& m);
void register_mpi_allreduce(py::module_& m);
void register_rnn_cell(py::module_& m);
void register_ctc(py::module_& m);
}  // namespace tg

PYBIND11_MODULE(_C, m) {
    m.doc() = "tensorgrad fused CPU kernels (OpenMP, float32/float64); see tensorgrad/backend/reference.py";
    tg::register_layernorm(m);
    tg::register_softmax_cross_entropy(m);
    tg::register_attention(m);
    tg::register_gelu(m);
    tg::register_adamw(m);
    tg::register_linear(m);
    tg::register_embedding(m);
    tg::register_cast(m);
    tg::register_binary(m);
    tg::register_where(m);
    tg::register_reduce_sum(m);
    tg::register_bias_dropout_add(m);
    tg::register_mpi_allreduce(m);
    tg::register_rnn_cell(m);
    tg::register_ctc(m);
    m.def("num_threads", []() { return omp_get_max_threads(); }, "OpenMP threads the kernels use.");
    m.def("set_num_threads", [](int n) { omp_set_num_threads(n); }, py::arg("n"));
}
