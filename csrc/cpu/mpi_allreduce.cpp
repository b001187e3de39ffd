// mpi_allreduce: MPI_Allreduce / MPI_Iallreduce (SUM, in place; with MPI_Wait / MPI_Test for the latter) on a C-contiguous float32/float64 array, called
// through the address of the very MPI library mpi4py loaded (tensorgrad/distributed/mpi_backend.py finds it and
// the handles through mpi4py). The MPI is still the engine; this only skips mpi4py's per-call buffer parsing,
// which at 4 KB is a tenth of the collective's time (benchmarks/bench_distributed.py). No MPI header is needed at
// build time: the handles arrive as integers, and their width (4 bytes: MPICH's ABI; 8: Open MPI's pointers and
// the MPI-5 ABI) picks the function type to call through, so the arguments are passed as the library expects.
#include "tg_common.h"

#include <cstdint>

namespace tg {
namespace {

using allreduce_int = int (*)(const void*, void*, int, int, int, int);
using allreduce_ptr = int (*)(const void*, void*, int, void*, void*, void*);
using iallreduce_int = int (*)(const void*, void*, int, int, int, int, int*);
using iallreduce_ptr = int (*)(const void*, void*, int, void*, void*, void*, void**);
// MPI_Wait / MPI_Test take a real status buffer rather than MPI_STATUS_IGNORE, whose value differs between ABIs;
// every ABI's MPI_Status fits in 64 bytes (MPICH's is 20, Open MPI's 24, MPI-5's 32).
using wait_int = int (*)(int*, void*);
using wait_ptr = int (*)(void**, void*);
using test_int = int (*)(int*, int*, void*);
using test_ptr = int (*)(void**, int*, void*);

struct MpiAllreduce {
    uintptr_t allreduce, iallreduce, wait, test;  // MPI_Allreduce, MPI_Iallreduce, MPI_Wait, MPI_Test
    intptr_t comm, f32, f64, sum, in_place;  // MPI_Comm, MPI_FLOAT, MPI_DOUBLE, MPI_SUM, MPI_IN_PLACE
    int handle_bytes;                      // 4 or 8

    // The datatype handle for a (float32 / float64, C-contiguous, writable, count fits an int), else false: the
    // caller then takes the general path, which explains what it refuses.
    bool datatype(const py::array& a, intptr_t& dt) const {
        if (!(a.flags() & py::array::c_style) || !a.writeable() || a.size() > INT32_MAX)
            return false;
        const char kind = a.dtype().kind();
        const auto size = a.itemsize();
        if (kind != 'f' || (size != 4 && size != 8)) return false;
        dt = size == 4 ? f32 : f64;
        return true;
    }

    // 0 once done, -1 where a is not this path's case, else the MPI error code.
    int call(py::array a) const {
        intptr_t dt;
        if (!datatype(a, dt)) return -1;
        void* p = a.mutable_data();
        const int n = static_cast<int>(a.size());
        py::gil_scoped_release nogil;  // as mpi4py: other threads (the watchdog) run while this rank waits
        if (handle_bytes == 4)
            return reinterpret_cast<allreduce_int>(allreduce)(reinterpret_cast<const void*>(in_place), p, n,
                                                              static_cast<int>(dt), static_cast<int>(sum),
                                                              static_cast<int>(comm));
        return reinterpret_cast<allreduce_ptr>(allreduce)(reinterpret_cast<const void*>(in_place), p, n,
                                                          reinterpret_cast<void*>(dt), reinterpret_cast<void*>(sum),
                                                          reinterpret_cast<void*>(comm));
    }

    // (0, request handle) once started, (-1, 0) where a is not this path's case, else (MPI error code, 0).
    std::pair<int, uintptr_t> start(py::array a) const {
        intptr_t dt;
        if (!datatype(a, dt)) return {-1, 0};
        void* p = a.mutable_data();
        const int n = static_cast<int>(a.size());
        if (handle_bytes == 4) {
            int req = 0;
            const int rc = reinterpret_cast<iallreduce_int>(iallreduce)(
                reinterpret_cast<const void*>(in_place), p, n, static_cast<int>(dt), static_cast<int>(sum),
                static_cast<int>(comm), &req);
            return {rc, static_cast<uint32_t>(req)};  // unsigned, as mpi4py's Request.fromhandle takes it
        }
        void* req = nullptr;
        const int rc = reinterpret_cast<iallreduce_ptr>(iallreduce)(
            reinterpret_cast<const void*>(in_place), p, n, reinterpret_cast<void*>(dt), reinterpret_cast<void*>(sum),
            reinterpret_cast<void*>(comm), &req);
        return {rc, reinterpret_cast<uintptr_t>(req)};
    }

    // MPI_Wait on a request start() gave: the MPI error code (0 once complete). The GIL is released meanwhile.
    int wait_for(uintptr_t req) const {
        alignas(8) unsigned char status[64];
        py::gil_scoped_release nogil;
        if (handle_bytes == 4) {
            int r = static_cast<int>(static_cast<uint32_t>(req));
            return reinterpret_cast<wait_int>(wait)(&r, status);
        }
        void* r = reinterpret_cast<void*>(req);
        return reinterpret_cast<wait_ptr>(wait)(&r, status);
    }

    // MPI_Test: (MPI error code, whether complete); a complete request is freed by MPI and not tested again.
    std::pair<int, bool> test_once(uintptr_t req) const {
        alignas(8) unsigned char status[64];
        int flag = 0, rc;
        if (handle_bytes == 4) {
            int r = static_cast<int>(static_cast<uint32_t>(req));
            rc = reinterpret_cast<test_int>(test)(&r, &flag, status);
        } else {
            void* r = reinterpret_cast<void*>(req);
            rc = reinterpret_cast<test_ptr>(test)(&r, &flag, status);
        }
        return {rc, flag != 0};
    }
};

}  // namespace

void register_mpi_allreduce(py::module_& m) {
    py::class_<MpiAllreduce>(m, "MpiAllreduce",
                             "In-place SUM all-reduce of float32/float64 arrays through an already loaded MPI "
                             "library's MPI_Allreduce / MPI_Iallreduce (addresses and handles from mpi4py).")
        .def(py::init([](uintptr_t allreduce, uintptr_t iallreduce, uintptr_t wait, uintptr_t test, intptr_t comm,
                         intptr_t f32, intptr_t f64, intptr_t sum, intptr_t in_place, int handle_bytes) {
                 if (!allreduce || !iallreduce || !wait || !test)
                     throw std::invalid_argument("MpiAllreduce: an MPI function address is null");
                 if (handle_bytes != 4 && handle_bytes != 8)
                     throw std::invalid_argument("MpiAllreduce: MPI handles of " + std::to_string(handle_bytes) +
                                                 " bytes (4 or 8 supported)");
                 return MpiAllreduce{allreduce, iallreduce, wait, test, comm, f32, f64, sum, in_place, handle_bytes};
             }),
             py::arg("allreduce"), py::arg("iallreduce"), py::arg("wait"), py::arg("test"), py::arg("comm"),
             py::arg("f32"), py::arg("f64"), py::arg("sum"), py::arg("in_place"), py::arg("handle_bytes"))
        .def("__call__", &MpiAllreduce::call, py::arg("a"),
             "MPI_Allreduce(IN_PLACE, a, SUM): 0 once done, -1 where a is not a writable C-contiguous float32/64 "
             "array (nothing is called), else the MPI error code.")
        .def("start", &MpiAllreduce::start, py::arg("a"),
             "MPI_Iallreduce(IN_PLACE, a, SUM): (0, request handle), (-1, 0) where a does not apply, else "
             "(MPI error code, 0).")
        .def("wait", &MpiAllreduce::wait_for, py::arg("request"),
             "MPI_Wait on start()'s request (GIL released): the MPI error code, 0 once complete.")
        .def("test", &MpiAllreduce::test_once, py::arg("request"),
             "MPI_Test on start()'s request: (MPI error code, complete); a complete request is freed.");
}

}  // namespace tg
