"""The torch namespaces scripts import: tensorgrad.cuda (honest without a GPU), tensorgrad.backends, dtype
aliases, autocast/compile, Tensor.__format__/pin_memory, from_numpy sharing memory, Module attribute
reassignment order, and the distributed / nn.parallel stubs; each against torch where torch answers."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn
from tensorgrad.backend import cuda_available
from tensorgrad.nn.parallel import DataParallel, DistributedDataParallel
from helpers import raises

gpu = [pytest.mark.gpu, pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")]
no_gpu = pytest.mark.skipif(cuda_available(), reason="checks the answers without a GPU")


# ------------------------------------------------------------------------------------------------- cuda
@no_gpu
def test_cuda_answers_like_torch_without_a_gpu():
    c = tg.cuda
    assert c.is_available() is False and c.device_count() == 0 and c.is_bf16_supported() is False
    assert c.memory_allocated() == 0 == torch.cuda.memory_allocated()
    assert c.max_memory_allocated() == 0 == torch.cuda.max_memory_allocated()
    c.manual_seed(1), c.manual_seed_all(2), c.empty_cache(), c.set_device(-1)  # torch: no-ops without CUDA
    before = tg.randn(3)
    tg.manual_seed(0)
    c.manual_seed_all(123)  # must not touch the CPU stream
    assert np.array_equal(tg.randn(3).numpy(), before.numpy())
    for f in (c.current_device, c.synchronize, c.get_device_name, c.reset_peak_memory_stats, c.init,
              lambda: c.set_device(0), c.get_device_capability):
        with raises(RuntimeError, "CUDA is not available"):
            f()


@no_gpu
def test_cuda_amp_deprecated_spellings_disable_without_cuda():
    with pytest.warns(FutureWarning, match="deprecated"), pytest.warns(UserWarning, match="CUDA is not available"):
        scaler = tg.cuda.amp.GradScaler()
    assert isinstance(scaler, tg.amp.GradScaler) and not scaler.is_enabled()
    with pytest.warns(FutureWarning, match="deprecated"), pytest.warns(UserWarning, match="Disabling autocast"):
        ctx = tg.cuda.amp.autocast()
    assert isinstance(ctx, tg.amp.autocast)
    with ctx:
        assert not tg.amp.is_autocast_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not tg.cuda.amp.GradScaler(enabled=False).is_enabled()


def test_cuda_keeps_graph_exports():
    for name in ("CUDAGraph", "GraphedStep", "graph", "is_capturing", "keep_alive"):
        assert hasattr(tg.cuda, name)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")
def test_cuda_real_values_on_a_gpu():
    import cupy as cp  # noqa: the GPU path's own check needs the library it checks
    c = tg.cuda
    assert c.is_available() and c.device_count() == cp.cuda.runtime.getDeviceCount() >= 1
    c.set_device(0)
    assert c.is_bf16_supported() in (True, False)
    assert c.is_bf16_supported(including_emulation=False) == (c.is_bf16_supported() and c.get_device_capability() >= (8, 0))
    assert c.current_device() == 0 and isinstance(c.get_device_name(), str) and c.get_device_name()
    c.reset_peak_memory_stats()
    base = c.memory_allocated()
    x = tg.zeros(1 << 20, device="cuda")  # 4 MiB
    c.synchronize()
    assert c.memory_allocated() >= base + (4 << 20)
    peak = c.max_memory_allocated()
    assert peak >= base + (4 << 20)
    del x
    assert c.max_memory_allocated() == peak
    c.reset_peak_memory_stats()
    assert c.max_memory_allocated() < peak
    c.empty_cache()
    c.manual_seed_all(7)
    a = tg.randn(4, device="cuda").numpy()
    c.manual_seed(7)
    assert np.array_equal(tg.randn(4, device="cuda").numpy(), a)


# ------------------------------------------------------------------------------------------------- backends
def test_backends_flags_read_back_with_torch_defaults():
    b = tg.backends
    for attr in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(b.cudnn, attr) == getattr(torch.backends.cudnn, attr), attr
    assert b.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32 is False
    assert b.mps.is_available() is False and b.cudnn.is_available() is False
    assert tg.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    assert b.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
    try:
        b.cudnn.benchmark = True
        b.cuda.matmul.allow_tf32 = True
        assert b.cudnn.benchmark is True and b.cuda.matmul.allow_tf32 is True
        assert tg.get_float32_matmul_precision() == "high"
        tg.set_float32_matmul_precision("highest")
        assert b.cuda.matmul.allow_tf32 is False
        with raises(AttributeError, "no setting 'allow_tf23'"):
            b.cuda.matmul.allow_tf23 = True
        with raises(RuntimeError, "expected one of"):
            tg.set_float32_matmul_precision("low")
    finally:
        b.cudnn.benchmark = False
        b.cuda.matmul.allow_tf32 = False


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")
def test_allow_tf32_sets_cublas_compute_type():
    from cupy._core import _routines_linalg as rl  # noqa: the compute type is CuPy's own state
    import cupy as cp  # noqa
    try:
        tg.backends.cuda.matmul.allow_tf32 = True
        tf32 = rl.get_compute_type(cp.float32) == getattr(rl, "COMPUTE_TYPE_TF32", 7)
        assert tf32 == (int(cp.cuda.Device().compute_capability) >= 80)
    finally:
        tg.backends.cuda.matmul.allow_tf32 = False
    assert rl.get_compute_type(cp.float32) != getattr(rl, "COMPUTE_TYPE_TF32", 7)


# ------------------------------------------------------------------------------------------------- top level
@pytest.mark.parametrize("name", ["float", "double", "half", "long", "int", "short", "bool", "uint8", "int8",
                                  "float16", "float32", "float64", "int16", "int32", "int64"])
def test_dtype_aliases_match_torch(name):
    assert str(getattr(tg, name)) == str(getattr(torch, name)).replace("torch.", "")
    assert tg.zeros(2, dtype=getattr(tg, name)).dtype == getattr(tg, name)


def test_autocast_and_compile():
    assert tg.autocast is tg.amp.autocast
    with tg.autocast("cpu", dtype=tg.float16):
        assert tg.amp.is_autocast_enabled()
        assert (tg.ones(2, 3) @ tg.ones(3, 2)).dtype == tg.float16
    with tg.autocast(device_type="cpu", dtype=tg.float16, enabled=False):
        assert not tg.amp.is_autocast_enabled()
    m = nn.Linear(2, 2)
    assert tg.compile(m) is m and tg.compile(m, mode="max-autotune", fullgraph=True) is m

    def f(x):
        return x
    assert tg.compile(f) is f and tg.compile(dynamic=True)(f) is f


def test_format_of_0d_tensors_like_torch():
    for v, spec in ((1.23456, ".4f"), (2.5, "e"), (3.0, ""), (7, "d"), (7, ">5"), (True, "")):
        assert f"{tg.tensor(v):{spec}}" == f"{torch.tensor(v):{spec}}"
    loss = (tg.ones(3, requires_grad=True) * 2).sum()
    assert f"{loss:.4f}" == "6.0000"
    assert f"{tg.ones(2)}" == str(tg.ones(2))
    with raises(TypeError):
        f"{tg.ones(2):.4f}"


def test_pin_memory_is_the_tensor_itself_on_cpu():
    t = tg.ones(3)
    assert t.pin_memory() is t and t.is_pinned() is False


def test_from_numpy_shares_memory_both_ways():
    a = np.zeros(4, dtype=np.float32)
    t = tg.from_numpy(a)
    t.add_(1)
    t[0] = 5
    assert a.tolist() == [5, 1, 1, 1]
    a[3] = 9
    assert t.tolist() == [5, 1, 1, 9]
    for arr in (np.arange(3, dtype=np.int16), np.array([True]), np.zeros((2, 2), np.float64)):
        assert tg.from_numpy(arr).dtype == arr.dtype
    with raises(TypeError, "expected np.ndarray"):
        tg.from_numpy([1, 2])
    with raises(TypeError, "can't convert np.ndarray of type <U1"):
        tg.from_numpy(np.array(["a"]))


# ------------------------------------------------------------------------------------------------- Module order
def _build(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Linear(2, 2)
            self.w = lib.nn.Parameter(lib.ones(2))
            self.b = lib.nn.Linear(2, 2)
            self.register_buffer("buf", lib.zeros(1))
            self.register_buffer("buf2", lib.zeros(1))
            self.c = lib.nn.Linear(2, 2)
            self.a = lib.nn.Linear(2, 2)             # reassign a submodule
            self.w = lib.nn.Parameter(lib.zeros(2))  # reassign a parameter
            self.buf = lib.ones(1)                   # reassign a buffer
            self.register_parameter("w", lib.nn.Parameter(lib.ones(2)))
            self.register_buffer("buf2", lib.ones(1))
            self.add_module("b", lib.nn.Linear(2, 2))
            self.b = None                            # a slot set to None keeps its place too
            self.b = lib.nn.Linear(2, 2)
    return Net()


def test_reassignment_keeps_registration_order_like_torch():
    m, tm = _build(tg), _build(torch)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [n for n, _ in m.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]


def test_changing_kind_moves_the_name_like_torch():
    def build(lib):
        m = lib.nn.Module()
        m.x = lib.nn.Linear(1, 1)
        m.p = lib.nn.Parameter(lib.ones(1))
        m.q = lib.nn.Parameter(lib.ones(1))
        m.x = lib.nn.Parameter(lib.ones(1))  # a module slot becomes a parameter: appended to the parameters
        return m
    m, tm = build(tg), build(torch)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["p", "q", "x"]
    assert list(m._modules) == list(tm._modules) == []


# ------------------------------------------------------------------------------------------------- stubs
def test_distributed_and_parallel_import_as_torch():
    # nanoGPT imports these at the top of train.py; the real behaviour is tested in tests/test_distributed.py.
    assert dist.is_initialized() is False
    for name in ("init_process_group", "destroy_process_group", "get_rank", "get_world_size", "barrier",
                 "all_reduce", "broadcast", "all_gather", "ReduceOp"):
        assert hasattr(dist, name), name
    assert isinstance(DistributedDataParallel, type)
    with raises(ValueError, "init_process_group"):  # torch's ValueError: no default process group yet
        dist.get_rank()




@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_matches_torch(name):
    ours, theirs = tg.finfo(getattr(tg, name)), torch.finfo(getattr(torch, name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal"):
        assert float(getattr(ours, field)) == getattr(theirs, field), field
    assert np.isclose(float(ours.resolution), theirs.resolution, rtol=1e-3)  # (rounded to the dtype here)
    assert tg.finfo().eps == torch.finfo().eps  # the default dtype's


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name):
    ours, theirs = tg.iinfo(getattr(tg, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.min, ours.max) == (theirs.bits, theirs.min, theirs.max)


def test_finfo_and_iinfo_refuse_the_other_kind():
    with pytest.raises(TypeError, match="finfo: expected a floating point dtype, got int64"):
        tg.finfo(tg.int64)
    with pytest.raises(TypeError, match="iinfo: expected an integer dtype, got float32"):
        tg.iinfo(tg.float32)
    with pytest.raises(TypeError, match="iinfo"):
        tg.iinfo(tg.bool)


def test_nan_to_num_tensor_split_diff_match_torch():
    x = np.array([[np.nan, np.inf, -np.inf, 1.5], [2.0, -3.0, np.nan, 4.0]], np.float32)
    for kw in ({}, {"nan": 2.0, "posinf": 9.0, "neginf": -9.0}):
        np.testing.assert_array_equal(tg.nan_to_num(tg.tensor(x), **kw).numpy(), torch.nan_to_num(torch.tensor(x), **kw))
    w = tg.tensor(x, requires_grad=True)
    tw = torch.tensor(x, requires_grad=True)
    tg.nan_to_num(w).sum().backward()
    torch.nan_to_num(tw).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
    a = np.arange(20.0).reshape(4, 5)
    for spec in (3, 7, [1, 3], [-2], (0, 9)):
        ours, theirs = tg.tensor(a).tensor_split(spec, dim=1), torch.tensor(a).tensor_split(spec, dim=1)
        assert len(ours) == len(theirs)
        for o, t_ in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), t_.numpy())
    for n, pre in ((1, None), (2, np.zeros((4, 1))), (3, None)):
        ours = tg.diff(tg.tensor(a ** 2), n=n, dim=1, prepend=None if pre is None else tg.tensor(pre))
        theirs = torch.diff(torch.tensor(a ** 2), n=n, dim=1, prepend=None if pre is None else torch.tensor(pre))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(RuntimeError, match="tensor_split: number of sections must be larger than 0"):
        tg.tensor(a).tensor_split(0)


def test_inplace_unary_methods_match_torch_and_refuse_what_torch_refuses():
    a = np.array([0.25, 1.0, 4.0], np.float32)
    for name in ("sqrt", "exp", "log", "neg", "sigmoid", "tanh", "reciprocal", "floor", "abs"):
        x, tx = tg.tensor(a), torch.tensor(a)
        assert getattr(x, name + "_")() is x
        getattr(tx, name + "_")()
        np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="sqrt_: result type float32 can't be cast to the desired output type int64"):
        tg.tensor([1, 4]).sqrt_()
    p = tg.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError, match="exp_: in-place operation on a leaf tensor that requires grad"):
        p.exp_()
    with tg.no_grad():
        p.exp_()
    np.testing.assert_allclose(p.detach().numpy(), np.exp(a), rtol=1e-6)
    assert tg.can_cast(tg.int64, tg.float32) and not tg.can_cast(tg.float32, tg.int64)
