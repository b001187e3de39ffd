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
    from tensorgrad.backend.host import set_num_threads
    prev = set_num_threads(1)
    yield
    if prev:
        set_num_threads(prev)


# -- every op has its float64 gradcheck and its comparison with torch -------------------------------------------
# helpers.check_op / gradcheck_op record which Functions they ran through (helpers.COVERED). After a full, passing
# run of the suite each Function in tensorgrad must appear in both, or the run fails and names the op: a new op
# cannot land untested. The ops that cannot be checked on this machine, and why:
def _not_checkable_here():
    from tensorgrad.backend import cuda_available
    if cuda_available():
        return {"torch": {}, "gradcheck": {}, "gradgradcheck": {}}
    why = "needs a CUDA device (tests/test_ops_cuda.py::test_to_device_against_torch_and_gradcheck)"
    return {"torch": {"ToDevice": why}, "gradcheck": {"ToDevice": why}, "gradgradcheck": {"ToDevice": why}}


_deselected = [0]


def pytest_deselected(items):
    _deselected[0] += len(items)


def _full_run(config):
    root = os.path.dirname(os.path.abspath(__file__))
    paths = {os.path.abspath(os.path.join(str(config.invocation_params.dir), a)) for a in config.args}
    return (not config.option.keyword and not config.option.markexpr and not _deselected[0]
            and not config.option.collectonly and not getattr(config.option, "lf", False)
            and paths <= {root, os.path.dirname(root)})


def tensorgrad_functions():
    """Every Function subclass defined in tensorgrad (tests define their own; those do not count)."""
    import tensorgrad.checkpoint  # noqa: F401 - the modules that define Functions, imported so all are seen
    import tensorgrad.ops  # noqa: F401
    from tensorgrad.autograd.function import Function
    found, todo = set(), [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("tensorgrad."):
                found.add(sub.__name__)
    return found


def pytest_sessionfinish(session, exitstatus):
    if exitstatus != 0 or not _full_run(session.config):
        return
    from helpers import COVERED
    ops = tensorgrad_functions()
    missing = {kind: sorted(ops - COVERED[kind] - set(_not_checkable_here()[kind])) for kind in COVERED}
    if any(missing.values()):
        sys.stderr.write("\nFAILED, ops without a test (see tests/conftest.py; helpers.check_op / gradcheck_op record them):\n"
                         f"  not compared with torch (forward + backward): {missing['torch'] or '-'}\n"
                         f"  not gradchecked in float64: {missing['gradcheck'] or '-'}\n"
                         "  no double-backward test (helpers.gradgradcheck_op, or double_backward_raises for an op "
                         f"that deliberately has none): {missing['gradgradcheck'] or '-'}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
