"""Shared pytest configuration and fixtures for the tensorgrad test suite."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # `from helpers import ...` regardless of rootdir / import mode

try:  # `-n0` is accepted even without pytest-xdist, so one command line works on every machine
    import xdist  # noqa: F401
except ImportError:
    def pytest_addoption(parser):
        try:  # pytest reserves lowercase short options for itself; the group's _addoption is how it adds them
            parser.getgroup("xdist-shim")._addoption("-n", "--numprocesses", action="store", default=None,
                                                     help="ignored: pytest-xdist is not installed")
        except Exception:  # pragma: no cover - a future pytest may refuse; then just don't pass -n
            pass


def _cpu_kernels_available():
    try:
        import tensorgrad.backend.cpu  # noqa: F401
        return True, ""
    except ImportError as e:
        return False, str(e)


@pytest.fixture(params=["default", "reference"])
def kernel_mode(request, monkeypatch):
    """Run a fused-op test twice: with the default (compiled CPU) kernels and with TENSORGRAD_KERNELS=reference."""
    from tensorgrad.backend import kernels
    if request.param == "reference":
        monkeypatch.setenv("TENSORGRAD_KERNELS", "reference")
    else:
        monkeypatch.delenv("TENSORGRAD_KERNELS", raising=False)
        ok, why = _cpu_kernels_available()
        if not ok:
            pytest.skip(f"compiled CPU kernels (tensorgrad._C) not built, only the reference is tested: {why}")
    kernels.clear_cache()
    yield request.param
    kernels.clear_cache()


@pytest.fixture(autouse=True)
def _seed_and_grad_mode():
    """Every test starts with grad mode on and a fixed default generator."""
    import tensorgrad as tg
    tg.manual_seed(0)
    tg.set_grad_enabled(True)
    np.random.seed(0)
    yield
    tg.set_grad_enabled(True)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy machine spinning BLAS/OpenMP pools slow them down
    many times over: run the module that asks for this single-threaded, then restore."""
    from tensorgrad.train import set_num_threads
    prev = set_num_threads(1)
    yield
    if prev:
        set_num_threads(prev)
