"""Builds the fused CPU kernels (csrc/cpu/*.cpp) into tensorgrad._C.

The extension is required: if it cannot be compiled, installation fails loudly
instead of leaving a silently slow pure-NumPy install behind.
"""
import glob
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from pybind11.setup_helpers import Pybind11Extension, build_ext
except ImportError:  # pragma: no cover - build isolation normally provides pybind11
    sys.exit("tensorgrad: building needs pybind11 (pip install pybind11), which builds tensorgrad._C")

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildExtLoud(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as e:  # make the reason obvious in pip's wall of text
            raise SystemExit(
                "tensorgrad: failed to compile the fused CPU kernels (tensorgrad._C) from csrc/cpu. "
                "A C++17 compiler with OpenMP (g++ >= 9) and the Python headers are required. "
                f"Original error: {e}")


class BuildPyWithCuda(build_py):
    """Ships csrc/cuda/*.cu (and csrc/common/philox.h, which attention.cu includes) inside the package so CuPy's
    RawModule can compile them at run time."""

    def run(self):
        super().run()
        dst = os.path.join(self.build_lib, "tensorgrad", "cuda_src")
        os.makedirs(dst, exist_ok=True)
        for f in glob.glob(os.path.join(HERE, "csrc", "cuda", "*.cu")) + glob.glob(os.path.join(HERE, "csrc", "cuda", "*.cuh")):
            shutil.copy(f, dst)
        shutil.copy(os.path.join(HERE, "csrc", "common", "philox.h"), dst)  # Philox, shared with the CPU kernels


cpp_sources = sorted(glob.glob(os.path.join("csrc", "cpu", "*.cpp")))
# -fno-trapping-math / -fno-math-errno change no results; they let GCC if-convert and vectorize the kernels'
# exp/erf/sqrt loops. -march=native (AVX2/AVX-512 where present) made them 2-4x faster on the build machine;
# -mprefer-vector-width=512 lets GCC's auto-vectorized loops use whole AVX-512 registers (it defaults to 256 bits
# even where 512 exist): GELU forward/backward 1.3-1.5x faster at one thread (benchmarks/bench_kernels_cpu.py);
# no effect without AVX-512. Set TENSORGRAD_PORTABLE=1 to build a binary that also runs on older x86-64 CPUs.
cpu_flags = [] if os.environ.get("TENSORGRAD_PORTABLE") == "1" else ["-march=native", "-mprefer-vector-width=512"]
ext = Pybind11Extension(
    "tensorgrad._C",
    cpp_sources,
    include_dirs=["csrc/common", "csrc/cpu"],
    cxx_std=17,
    extra_compile_args=["-O3", "-fopenmp", "-ffp-contract=fast", "-fno-trapping-math", "-fno-math-errno"] + cpu_flags,
    extra_link_args=["-fopenmp"],
)

setup(ext_modules=[ext], cmdclass={"build_ext": BuildExtLoud, "build_py": BuildPyWithCuda})
