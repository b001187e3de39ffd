"""torch's state functions and small helper modules, compared with torch: the autocast state (amp/state.py: the
setters change what the ops compute), torch.amp.custom_fwd/custom_bwd, the anomaly and warn-always switches,
torch.testing.make_tensor / assert_allclose, torch.random.fork_rng and nn.utils' weight memory-format conversion."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg


@pytest.fixture(autouse=True)
def _clean_state():
    yield
    for lib in (tg, torch):
        for dev in ("cpu", "cuda"):
            lib.set_autocast_enabled(dev, False)
        lib.set_autocast_dtype("cpu", lib.bfloat16)
        lib.set_autocast_dtype("cuda", lib.float16)
        lib.set_anomaly_enabled(False)


def _name(dt):
    return str(dt).replace("torch.", "").replace("tensorgrad.", "")


def _state(lib):
    return (lib.is_autocast_enabled("cpu"), lib.is_autocast_enabled("cuda"), lib.is_autocast_enabled(),
            _name(lib.get_autocast_dtype("cpu")), _name(lib.get_autocast_dtype("cuda")))


def _mm_dtype(lib):
    a = lib.ones(2, 2)
    return _name((a @ a).dtype)


def test_autocast_setters_change_the_ops_as_torch():
    assert _state(tg) == _state(torch)
    script = [("set_autocast_enabled", ("cpu", True)), ("set_autocast_dtype", ("cpu", "float16")),
              ("set_autocast_dtype", ("cpu", "bfloat16")), ("set_autocast_enabled", ("cuda", True)),
              ("set_autocast_enabled", (False,)), ("set_autocast_enabled", ("cpu", False))]
    for fn, args in script:
        for lib in (tg, torch):
            a = tuple(getattr(lib, x) if x in ("float16", "bfloat16") else x for x in args)
            getattr(lib, fn)(*a)
        assert _state(tg) == _state(torch), (fn, args)
        assert _mm_dtype(tg) == _mm_dtype(torch), (fn, args)


def test_autocast_exit_restores_what_setters_changed():
    for lib in (tg, torch):
        lib.set_autocast_dtype("cpu", lib.float16)
        with lib.autocast("cpu"):  # (no dtype: the one set_autocast_dtype chose)
            assert _name(lib.get_autocast_dtype("cpu")) == "float16" and _mm_dtype(lib) == "float16"
            lib.set_autocast_enabled("cpu", False)
            assert _mm_dtype(lib) == "float32" and not lib.is_autocast_enabled("cpu")
            lib.set_autocast_dtype("cpu", lib.bfloat16)
        assert not lib.is_autocast_enabled("cpu") and _name(lib.get_autocast_dtype("cpu")) == "float16"
        with lib.autocast("cpu", dtype=lib.bfloat16):
            assert lib.is_autocast_enabled("cpu") and not lib.is_autocast_enabled("cuda")
            assert _mm_dtype(lib) == "bfloat16"
        assert _mm_dtype(lib) == "float32"


def test_deprecated_spellings_nesting_and_availability():
    for lib in (tg, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert lib.is_autocast_cpu_enabled() is False
            lib.set_autocast_cpu_enabled(True)
            assert lib.is_autocast_enabled("cpu") and _mm_dtype(lib) == "bfloat16"
            lib.set_autocast_cpu_enabled(False)
            lib.set_autocast_cpu_dtype(lib.float16)
            assert _name(lib.get_autocast_cpu_dtype()) == "float16"
            lib.set_autocast_gpu_dtype(lib.bfloat16)
            assert _name(lib.get_autocast_gpu_dtype()) == "bfloat16"
        assert any(issubclass(x.category, DeprecationWarning) for x in w)
        assert [lib.autocast_increment_nesting(), lib.autocast_increment_nesting(), lib.autocast_decrement_nesting(),
                lib.autocast_decrement_nesting()] == [1, 2, 1, 0]
        lib.clear_autocast_cache()
        assert lib.is_autocast_cache_enabled() is True
        assert [lib.amp.is_autocast_available(d) for d in ("cpu", "cuda", "meta")] == [True, True, False]
        with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
            lib.is_autocast_enabled("foo")
    assert tg.GradScaler is tg.amp.GradScaler


def _custom_function(lib):
    class Mul(lib.autograd.Function):
        @staticmethod
        @lib.amp.custom_fwd(device_type="cpu", cast_inputs=lib.float32)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            ctx.seen = (_name(a.dtype), lib.is_autocast_enabled("cpu"))
            return a @ b

        @staticmethod
        @lib.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ctx.back_seen = lib.is_autocast_enabled("cpu")
            return g @ b.t(), a.t() @ g
    return Mul


def test_custom_fwd_and_bwd_under_autocast():
    seen = []
    for lib in (tg, torch):
        Mul = _custom_function(lib)
        a = lib.ones(2, 3, dtype=lib.bfloat16, requires_grad=True)
        b = lib.ones(3, 2, requires_grad=True)
        with lib.autocast("cpu", dtype=lib.bfloat16):
            out = Mul.apply(a, b)
        out.sum().backward()
        node = out.grad_fn
        seen.append((_name(out.dtype), _name(a.grad.dtype), _name(b.grad.dtype)))
        out2 = Mul.apply(lib.ones(2, 3), lib.ones(3, 2))  # outside autocast: no cast, nothing disabled
        seen.append(_name(out2.dtype))
    assert seen[0] == seen[2] and seen[1] == seen[3]
    assert seen[0] == ("float32", "bfloat16", "float32")
    with pytest.raises(ValueError, match="device_type"):
        tg.amp.custom_fwd(lambda ctx: None, device_type=None)
    del node


def test_anomaly_and_warn_always_switches():
    for lib in (tg, torch):
        assert lib.is_anomaly_enabled() is False and lib.is_anomaly_check_nan_enabled() is True
        lib.set_anomaly_enabled(True)
        assert lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        x = lib.tensor([0.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="(?i)nan|inf"):
            (x / x).sum().backward()
        lib.set_anomaly_enabled(True, False)
        assert lib.is_anomaly_enabled() and not lib.is_anomaly_check_nan_enabled()
        x = lib.tensor([0.0], requires_grad=True)
        (x / x).sum().backward()  # (not checked)
        lib.set_anomaly_enabled(False)
        assert not lib.is_anomaly_enabled() and lib.is_anomaly_check_nan_enabled()
        assert lib.is_warn_always_enabled() is False
        lib.set_warn_always(True)
        assert lib.is_warn_always_enabled() is True
        lib.set_warn_always(False)


# --------------------------------------------------------------------------------------- testing
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8", "int8", "bool"])
def test_make_tensor_matches_torch(dtype):
    tgd, thd = getattr(tg, dtype), getattr(torch, dtype)
    for shape in ((2, 3), ((4,),), ((),), (0, 2)):
        a = tg.testing.make_tensor(*shape, dtype=tgd, device="cpu")
        b = torch.testing.make_tensor(*shape, dtype=thd, device="cpu")
        assert tuple(a.shape) == tuple(b.shape) and _name(a.dtype) == _name(b.dtype)
    tg.manual_seed(0)
    a = np.asarray(tg.testing.make_tensor(2000, dtype=tgd, device="cpu")).astype(np.float64)
    b = torch.testing.make_tensor(2000, dtype=thd, device="cpu").numpy().astype(np.float64)
    assert a.min() >= b.min() - 1 and a.max() <= b.max() + 1 and abs(a.mean() - b.mean()) < 1.0
    for kw in (dict(low=2, high=5), dict(low=-3.5, high=-1.2)):
        if dtype == "bool" or (dtype == "uint8" and kw["low"] < 0):
            continue
        a = np.asarray(tg.testing.make_tensor(500, dtype=tgd, device="cpu", **kw)).astype(np.float64)
        b = torch.testing.make_tensor(500, dtype=thd, device="cpu", **kw).numpy().astype(np.float64)
        integral = dtype.startswith("int") or dtype == "uint8"
        lo, hi = (np.ceil(kw["low"]), np.ceil(kw["high"])) if integral else (kw["low"], kw["high"])
        assert a.min() >= lo - 1e-3 and a.max() <= hi and b.min() >= lo - 1e-3 and b.max() <= hi
        assert np.unique(a).size > 1
        if integral:  # (every integer of [ceil(low), ceil(high)) drawn, and nothing else, by both)
            assert set(np.unique(a)) == set(np.unique(b)) == set(np.arange(lo, hi))
    a = tg.testing.make_tensor(3, 4, dtype=tgd, device="cpu", noncontiguous=True)
    b = torch.testing.make_tensor(3, 4, dtype=thd, device="cpu", noncontiguous=True)
    assert a.stride() == b.stride() and not a.is_contiguous()
    a = tg.testing.make_tensor(2, 3, 4, 5, dtype=tgd, device="cpu", memory_format=tg.channels_last)
    b = torch.testing.make_tensor(2, 3, 4, 5, dtype=thd, device="cpu", memory_format=torch.channels_last)
    assert a.stride() == b.stride()
    z = np.asarray(tg.testing.make_tensor(400, dtype=tgd, device="cpu", exclude_zero=True, low=-1, high=1))
    assert (z != 0).all()


def test_make_tensor_errors_and_grad_match_torch():
    for lib in (tg, torch):
        t = lib.testing.make_tensor(3, dtype=lib.float64, device="cpu", requires_grad=True)
        assert t.requires_grad and t.is_leaf
        with pytest.raises(ValueError, match="`requires_grad=True` is not supported for boolean and integral dtypes"):
            lib.testing.make_tensor(3, dtype=lib.int64, device="cpu", requires_grad=True)
        with pytest.raises(ValueError, match="`low` must be less than `high`, but got 5 >= 2"):
            lib.testing.make_tensor(3, dtype=lib.int64, device="cpu", low=5, high=2)
        with pytest.raises(ValueError, match=r"is \[-5, -2\), but torch.uint8 only supports \[0, 256\)"):
            lib.testing.make_tensor(3, dtype=lib.uint8, device="cpu", low=-5, high=-2)
        with pytest.raises(ValueError, match="cannot be NaN"):
            lib.testing.make_tensor(3, dtype=lib.float32, device="cpu", low=float("nan"))
    assert tg.testing.make_tensor(3, dtype=tg.int64, device="cpu", low=2.5, high=3.5).tolist() == [3, 3, 3]


def test_assert_allclose():
    with pytest.warns(FutureWarning, match="assert_allclose"):
        tg.testing.assert_allclose(tg.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-7])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tg.testing.assert_allclose(tg.tensor([1, 2]), tg.tensor([1.0, 2.0]))  # dtypes need not match
        tg.testing.assert_allclose(tg.tensor([float("nan")]), [float("nan")])  # equal_nan by default
        for lib in (tg, torch):
            with pytest.raises(AssertionError, match="not close"):
                lib.testing.assert_allclose(lib.tensor([1.0, 2.0]), [1.0, 2.1])
            with pytest.raises(AssertionError):
                lib.testing.assert_allclose(lib.tensor([1.0]), [1.5], rtol=0.1, atol=0.0)


# ---------------------------------------------------------------------------------- random, nn.utils
def test_fork_rng_restores_the_generator():
    for lib in (tg, torch):
        lib.manual_seed(3)
        before = lib.rand(3).tolist()
        lib.manual_seed(3)
        with lib.random.fork_rng(devices=[]):
            lib.rand(5)
            lib.manual_seed(99)
            lib.randn(2)
        assert lib.rand(3).tolist() == before
        with lib.random.fork_rng(enabled=False):
            lib.rand(1)
        assert lib.rand(3).tolist() != before


@pytest.mark.parametrize("k", [2, 3])
def test_convert_conv_weight_memory_format(k):
    mf = {2: "channels_last", 3: "channels_last_3d"}[k]
    shapes = []
    for lib in (tg, torch):
        conv, convt = getattr(lib.nn, f"Conv{k}d"), getattr(lib.nn, f"ConvTranspose{k}d")
        m = lib.nn.Sequential(conv(2, 4, 3), lib.nn.ReLU(), lib.nn.Sequential(convt(4, 3, 2)), lib.nn.Linear(3, 3))
        values = [p.detach().clone() for p in m.parameters()]
        fn = getattr(lib.nn.utils, f"convert_conv{k}d_weight_memory_format")
        assert fn(m, getattr(lib, mf)) is m
        shapes.append([p.stride() for p in m.parameters()])
        assert all((a == b).all() for a, b in zip(values, m.parameters()))
        assert m[0].weight.is_contiguous(memory_format=getattr(lib, mf))
    assert shapes[0] == shapes[1]


def test_nn_utils_submodule_spellings():
    """torch.nn.utils.clip_grad / convert_parameters as modules, importable as in torch, computing as torch."""
    import importlib
    got = []
    for root in ("tensorgrad", "torch"):
        lib = importlib.import_module(root)
        cg = importlib.import_module(root + ".nn.utils.clip_grad")
        cp = importlib.import_module(root + ".nn.utils.convert_parameters")
        lib.manual_seed(0)
        m = lib.nn.Linear(3, 2)
        with lib.no_grad():
            m.weight.copy_(lib.tensor(np.arange(6.0).reshape(2, 3)))
            m.bias.copy_(lib.tensor([1.0, -1.0]))
        m(lib.ones(4, 3)).sum().backward()
        total = float(cg.clip_grad_norm_(m.parameters(), 1.0))
        vec = cp.parameters_to_vector(m.parameters())
        cp.vector_to_parameters(vec * 2, m.parameters())
        got.append((round(total, 5), [round(v, 5) for v in vec.tolist()], m.bias.tolist()))
    assert got[0] == got[1]
