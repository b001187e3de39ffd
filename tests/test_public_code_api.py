"""Smaller torch API pieces that a usage survey of public PyTorch repos found missing, each as torch:
torch.backends.cuda.sdp_kernel (vit-pytorch's flash-attention ViTs, on the CPU too), Module.compile (timm),
torch.nn.parallel.data_parallel (DCGAN), the private torch.nn.modules.* names timm imports (_BatchNorm,
_InstanceNorm, _NormBase, transformer._get_activation_fn), torch._utils' dense-tensor flattening (guided-diffusion's
fp16 master weights) and torch.utils.checkpoint.get_device_states / set_device_states (DALLE-pytorch's reversible
blocks)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn.parallel  # noqa: F401  (tensorgrad.nn.parallel is imported on demand; torch imports it eagerly)
from helpers import check_op, gradcheck_op, raises


# ------------------------------------------------------------------------------------------- sdp_kernel
def _switches(m):
    c = m.backends.cuda
    return (c.flash_sdp_enabled(), c.math_sdp_enabled(), c.mem_efficient_sdp_enabled(), c.cudnn_sdp_enabled())


@pytest.mark.parametrize("flags", [dict(enable_flash=False, enable_math=True, enable_mem_efficient=False),
                                   dict(enable_flash=True, enable_math=False, enable_mem_efficient=False,
                                        enable_cudnn=False),
                                   dict()])
def test_sdp_kernel_sets_and_restores_the_switches_as_torch(flags):
    before = _switches(tg)
    assert before == _switches(torch)
    q = np.random.default_rng(0).standard_normal((1, 2, 5, 4))
    outs = []
    for m in (tg, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with m.backends.cuda.sdp_kernel(**flags) as ctx:
                assert ctx == {}
                inside = _switches(m)
                x = m.tensor(q)
                outs.append(m.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True).numpy())
        assert any(issubclass(i.category, FutureWarning) and "sdp_kernel" in str(i.message) for i in w)
        assert _switches(m) == before
        outs.append(inside)
    assert outs[1] == outs[3]
    np.testing.assert_allclose(outs[0], outs[2], atol=1e-12)


def test_sdp_kernel_without_a_cpu_backend_refused_as_torch():
    for m in (tg, torch):
        x = m.ones(1, 1, 2, 4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.backends.cuda.sdp_kernel(enable_flash=False, enable_math=False, enable_mem_efficient=True):
                with raises(RuntimeError, "No viable backend"):
                    m.nn.functional.scaled_dot_product_attention(x, x, x)
        assert _switches(m) == (True, True, True, True)


def test_sdp_kernel_restores_after_an_exception():
    with pytest.raises(KeyError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tg.backends.cuda.sdp_kernel(enable_math=False):
                raise KeyError("x")
    assert _switches(tg) == (True, True, True, True)


# ------------------------------------------------------------------------------------------- Module.compile
def test_module_compile_in_place_returns_none_as_torch():
    for m in (tg, torch):
        lin = m.nn.Linear(3, 2)
        assert lin.compile(mode="max-autotune", fullgraph=False, dynamic=None, disable=True) is None
        x = m.ones(4, 3)
        assert tuple(lin(x).shape) == (4, 2)
    lin = tg.nn.Linear(3, 2)
    y0 = lin(tg.ones(1, 3)).detach().numpy()
    lin.compile()
    np.testing.assert_array_equal(lin(tg.ones(1, 3)).detach().numpy(), y0)


def test_module_compile_unknown_option_refused():
    with raises(TypeError, "compile", "modee"):
        tg.nn.Linear(2, 2).compile(modee="default")
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).compile(modee="default")


# ------------------------------------------------------------------------------------------- data_parallel
def test_data_parallel_function_needs_a_device_as_torch():
    for m in (tg, torch):
        if m.cuda.is_available():
            continue
        with raises(RuntimeError, "device type could not be determined"):
            m.nn.parallel.data_parallel(m.nn.Linear(2, 3), m.ones(4, 2))


@pytest.mark.skipif(not tg.cuda.is_available(), reason="needs CUDA")
def test_data_parallel_function_on_one_device():
    lin = tg.nn.Linear(2, 3).to("cuda")
    x = tg.ones(4, 2, requires_grad=True)
    y = tg.nn.parallel.data_parallel(lin, x, device_ids=[0])
    assert y.device.type == "cuda" and tuple(y.shape) == (4, 3)
    np.testing.assert_allclose(y.detach().cpu().numpy(), lin(x.to("cuda")).detach().cpu().numpy())
    y.sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == (4, 2)


# ------------------------------------------------------------------------------------------- private nn names
def test_private_norm_bases_under_the_alias():
    code = ("import tensorgrad.compat; tensorgrad.compat.install()\n"
            "import torch\n"
            "from torch.nn.modules.batchnorm import _BatchNorm, _NormBase\n"
            "from torch.nn.modules.instancenorm import _InstanceNorm\n"
            "from torch.nn.modules.transformer import _get_activation_fn\n"
            "nn = torch.nn\n"
            "print([isinstance(m, _BatchNorm) for m in (nn.BatchNorm1d(2), nn.BatchNorm2d(2), nn.SyncBatchNorm(2),"
            " nn.InstanceNorm2d(2), nn.LayerNorm(2))],"
            " [isinstance(m, _InstanceNorm) for m in (nn.InstanceNorm1d(2), nn.BatchNorm2d(2))],"
            " isinstance(nn.GroupNorm(1, 2), _NormBase), _get_activation_fn('relu') is torch.nn.functional.relu)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from torch.nn.modules.batchnorm import _BatchNorm, _NormBase
    from torch.nn.modules.instancenorm import _InstanceNorm
    nn = torch.nn
    want = ([isinstance(m, _BatchNorm) for m in (nn.BatchNorm1d(2), nn.BatchNorm2d(2), nn.SyncBatchNorm(2),
                                                 nn.InstanceNorm2d(2), nn.LayerNorm(2))],
            [isinstance(m, _InstanceNorm) for m in (nn.InstanceNorm1d(2), nn.BatchNorm2d(2))],
            isinstance(nn.GroupNorm(1, 2), _NormBase), True)
    assert out.stdout.strip() == " ".join(str(v) for v in want)


def test_get_activation_fn_as_torch():
    from torch.nn.modules.transformer import _get_activation_fn as theirs
    from tensorgrad.nn.modules.transformer import _get_activation_fn as ours
    assert ours("gelu") is tg.nn.functional.gelu and theirs("gelu") is torch.nn.functional.gelu
    for f in (ours, theirs):
        with raises(RuntimeError, "activation should be relu/gelu, not tanh"):
            f("tanh")


# ------------------------------------------------------------------------------------------- torch._utils
def test_flatten_unflatten_dense_tensors_as_torch():
    from torch._utils import _flatten_dense_tensors as tf, _unflatten_dense_tensors as tu
    from tensorgrad._utils import _flatten_dense_tensors as gf, _unflatten_dense_tensors as gu

    def ours(a, b, c):
        flat = gf([a, b.t(), c])  # (b.t(): a non-contiguous input goes in by its logical order)
        return (flat,) + gu(flat * 2.0, [a, b.t(), c])

    def theirs(a, b, c):
        flat = tf([a, b.t(), c])
        return (flat,) + tu(flat * 2.0, [a, b.t(), c])
    check_op(ours, theirs, [(2, 3), (4, 2), (5,)])
    gradcheck_op(ours, [(2, 3), (4, 2), (5,)])


def test_flatten_one_tensor_is_a_view_and_empty_refused():
    from tensorgrad._utils import _flatten_dense_tensors, _unflatten_dense_tensors
    a = tg.ones(2, 3)
    f = _flatten_dense_tensors([a])
    f[0] = 7.0
    assert a[0, 0].item() == 7.0 and tuple(f.shape) == (6,)
    parts = _unflatten_dense_tensors(tg.arange(10.0), [tg.ones(2, 3), tg.ones(4)])
    assert isinstance(parts, tuple) and [tuple(p.shape) for p in parts] == [(2, 3), (4,)]
    with pytest.raises((ValueError, RuntimeError)):
        _flatten_dense_tensors([])
    with pytest.raises((ValueError, RuntimeError)):
        torch._utils._flatten_dense_tensors([])


# ------------------------------------------------------------------------------------------- device states
def test_device_states_cpu_arguments_as_torch():
    from torch.utils.checkpoint import get_device_states as tget, set_device_states as tset
    from tensorgrad.utils.checkpoint import get_device_states as gget, set_device_states as gset
    assert gget(tg.ones(2), (tg.ones(1), {"k": 3}), None) == tget(torch.ones(2), (torch.ones(1), {"k": 3}), None) \
        == ([], [])
    gset([], [])
    tset([], [])


@pytest.mark.skipif(not tg.cuda.is_available(), reason="needs CUDA")
def test_device_states_replay_cuda_dropout():
    from tensorgrad.utils.checkpoint import get_device_states, set_device_states
    x = tg.ones(1000, device="cuda")
    devices, states = get_device_states(x, [x])
    assert devices == [0, 0] and len(states) == 2
    a = tg.nn.functional.dropout(x, 0.5)
    set_device_states(devices, states)
    b = tg.nn.functional.dropout(x, 0.5)
    np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())


def test_cpu_rng_replay_through_set_device_states_pattern():
    # DALLE-pytorch's reversible block: record the CPU state (and device states), draw, restore both, draw again
    from tensorgrad.utils.checkpoint import get_device_states, set_device_states
    x = tg.ones(200)
    cpu = tg.get_rng_state()
    devices, states = get_device_states(x)
    a = tg.nn.functional.dropout(x, 0.5)
    tg.set_rng_state(cpu)
    set_device_states(devices, states)
    b = tg.nn.functional.dropout(x, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------------------------------- torch.version
def test_version_module_as_torch_without_cuda():
    import tensorgrad.version as v
    import torch.version as tv
    for name in ("cuda", "hip", "debug"):
        if name == "cuda" and (tg.cuda.is_available() or torch.cuda.is_available()):
            continue
        assert getattr(v, name) == getattr(tv, name), name
    assert v.__version__ == tg.__version__ and isinstance(v.git_version, str)


@pytest.mark.skipif(not tg.cuda.is_available(), reason="needs CUDA")
def test_version_cuda_is_the_runtime():
    import tensorgrad.version as v
    major, minor = v.cuda.split(".")
    assert int(major) >= 11 and minor.isdigit()


def test_alias_finds_attributes_whose_value_is_none():
    # the alias took a None value for a missing attribute: torch.version.cuda (None on a CPU build) raised
    code = ("import tensorgrad.compat; tensorgrad.compat.install()\n"
            "import torch\n"
            "import tensorgrad.version\n"
            "from torch.version import cuda as c\n"
            "print(torch.version.cuda is tensorgrad.version.cuda, c is tensorgrad.version.cuda, torch.version.hip)\n"
            "try:\n    torch.version.not_there\nexcept AttributeError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "True True None"
    assert lines[1].startswith("refused: torch.version.not_there: a torch feature tensorgrad does not provide")
