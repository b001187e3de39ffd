"""Test helpers: check an op against PyTorch (forward + the gradient of every differentiable input) in one line,
and a float64 finite-difference gradcheck.

Inputs are described by a list whose entries are:
  * a shape tuple            -> standard-normal floats of ``dtype`` (differentiable)
  * an ``Arg`` (see pos/nz/unif/ints/bools) -> floats from a domain, or integer / bool data (never differentiable)
  * a numpy array            -> used as given (float arrays are cast to ``dtype`` and are differentiable)
  * anything else (python scalars, None, ...) -> passed unchanged to both functions
The same numpy data is handed to tensorgrad and to torch, so results must agree to the dtype's tolerance.
"""
import contextlib
import importlib.util
import os
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.autograd import function as _function, gradcheck

# Default tolerances per dtype: float64 tight, float32 loose, float16 forward-only and looser still.
TOL = {np.dtype(np.float64): (1e-10, 1e-10), np.dtype(np.float32): (1e-5, 1e-5), np.dtype(np.float16): (2e-3, 2e-3)}


class Arg:
    """One input: shape + how to draw it. kind: 'normal', 'uniform', 'int' or 'bool'."""

    def __init__(self, shape, kind="normal", low=None, high=None, away=None, grad=None):
        self.shape, self.kind, self.low, self.high, self.away, self.grad = tuple(shape), kind, low, high, away, grad

    def make(self, rng, dtype):
        if self.kind == "int":
            return np.asarray(rng.integers(self.low, self.high, size=self.shape)).astype(np.int64)
        if self.kind == "bool":
            return np.asarray(rng.random(self.shape) < (0.5 if self.low is None else self.low))
        if self.kind == "uniform":
            x = rng.uniform(self.low, self.high, size=self.shape)
        else:
            x = rng.standard_normal(self.shape)
        if self.away is not None:
            # Push values at least 0.1 away from the listed non-differentiable points (keeping their side).
            for p in np.atleast_1d(self.away):
                d = x - p
                close = np.abs(d) < 0.1
                x = np.where(close, p + np.where(d >= 0, 0.1, -0.1) + d, x)
        return np.asarray(x).astype(dtype)


def pos(*shape, low=0.5, high=2.0):
    """Positive floats (log, sqrt, rsqrt, pow bases, ...)."""
    return Arg(shape, "uniform", low, high)


def unif(*shape, low=-1.0, high=1.0, away=None):
    return Arg(shape, "uniform", low, high, away=away)


def nz(*shape, away=0.0):
    """Normal floats kept >= 0.1 from ``away`` (abs/relu/sign kinks, division by ~0)."""
    return Arg(shape, away=away)


def ints(*shape, low=0, high=5):
    return Arg(shape, "int", low, high)


def bools(*shape, p=0.5):
    return Arg(shape, "bool", low=p)


def make_inputs(specs, dtype=np.float64, seed=0):
    """numpy data for each spec, and for each whether it is a differentiable float input."""
    rng = np.random.default_rng(seed)
    data, diff = [], []
    for s in specs:
        if isinstance(s, tuple) and all(isinstance(d, (int, np.integer)) for d in s):
            s = Arg(s)
        if isinstance(s, Arg):
            a = s.make(rng, dtype)
            data.append(a)
            diff.append(a.dtype.kind == "f" and s.grad is not False)
        elif isinstance(s, np.ndarray):
            a = s.astype(dtype) if s.dtype.kind == "f" else s
            data.append(a)
            diff.append(a.dtype.kind == "f")
        else:
            data.append(s)
            diff.append(False)
    return data, diff


# The ops (Function classes) that check_op compared with torch including the backward, and that gradcheck_op
# checked in float64. conftest compares both with every Function in tensorgrad after a full run, so an op that
# lands without its gradcheck or its torch comparison fails the suite.
COVERED = {"torch": set(), "gradcheck": set(), "gradgradcheck": set()}


@contextlib.contextmanager
def _ops_recorded(into):
    def hook(ctx, args, out, recorded):
        if recorded:
            into.add(type(ctx).__name__)
    _function._forward_hooks.append(hook)
    try:
        yield into
    finally:
        _function._forward_hooks.remove(hook)


def _np_dtype(t):
    return np.dtype(str(t.dtype).replace("torch.", "")) if t.dtype != torch.bool else np.dtype(np.bool_)


def _flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _to_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    if isinstance(t, tg.Tensor):
        return np.asarray(t)
    return np.asarray(t)


def _compare(what, got, want, atol, rtol):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != torch {want.shape}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=f"{what} (exact)")
    else:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol, rtol=rtol,
                                   err_msg=what, equal_nan=True)


def check_op(tg_fn, torch_fn=None, inputs=(), dtype=np.float64, requires_grad=None, atol=None, rtol=None,
             int_inputs=None, seed=0, grad=True, check_dtype=True):
    """Run ``tg_fn`` and ``torch_fn`` (default: the same callable, for method/operator lambdas) on identical
    data; compare every output (shape, dtype, values) and, with a random cotangent per float output, the
    gradient of every differentiable input (shape, dtype, values).

    requires_grad: None -> every float input; a bool -> all or none; a list -> per input.
    int_inputs: {index: (low, high)} makes those shape entries integer inputs.
    grad=False checks the forward only. Returns (tensorgrad outputs, torch outputs, tg grads, torch grads).
    """
    dtype = np.dtype(dtype)
    torch_fn = tg_fn if torch_fn is None else torch_fn
    specs = list(inputs)
    for i, (lo, hi) in (int_inputs or {}).items():
        specs[i] = ints(*specs[i], low=lo, high=hi)
    data, diff = make_inputs(specs, dtype, seed)
    if requires_grad is not None:
        per = requires_grad if isinstance(requires_grad, (list, tuple)) else [requires_grad] * len(data)
        diff = [d and bool(r) for d, r in zip(diff, per)]
    if not grad:
        diff = [False] * len(data)
    d_atol, d_rtol = TOL.get(dtype, (1e-5, 1e-5))
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol

    tg_in = [tg.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a for a, g in zip(data, diff)]
    th_in = [torch.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a for a, g in zip(data, diff)]
    with _ops_recorded(set()) as ran:
        tg_out = _flat_outputs(tg_fn(*tg_in))
    th_out = _flat_outputs(torch_fn(*th_in))
    assert len(tg_out) == len(th_out), f"{len(tg_out)} outputs, torch has {len(th_out)}"
    for i, (a, b) in enumerate(zip(tg_out, th_out)):
        assert isinstance(a, tg.Tensor), f"output {i} is a {type(a).__name__}, not a Tensor"
        an, bn = _to_np(a), _to_np(b)
        if check_dtype:
            assert an.dtype == _np_dtype(b), f"output {i}: dtype {an.dtype} != torch {_np_dtype(b)}"
        _compare(f"output {i}", an, bn, atol, rtol)

    tg_grads, th_grads = [], []
    if any(diff):
        rng = np.random.default_rng(seed + 1000)
        pairs = [(a, b, rng.standard_normal(b.shape)) for a, b in zip(tg_out, th_out)
                 if isinstance(b, torch.Tensor) and b.requires_grad]
        if not pairs:  # e.g. argmax, comparisons: nothing to differentiate, and tensorgrad must agree
            for i, a in enumerate(tg_out):
                assert not a.requires_grad, f"output {i} requires grad but torch's does not"
            return tg_out, th_out, tg_grads, th_grads
        for a, b, _ in pairs:
            assert a.requires_grad, "tensorgrad output does not require grad but torch's does"
        tg.autograd.backward([a for a, _, _ in pairs], [tg.tensor(c.astype(_to_np(a).dtype)) for a, _, c in pairs])
        torch.autograd.backward([b for _, b, _ in pairs], [torch.tensor(c, dtype=b.dtype) for _, b, c in pairs])
        for i, (x, y, d) in enumerate(zip(tg_in, th_in, diff)):
            if not d:
                continue
            gy = np.zeros(y.shape, dtype=_np_dtype(y)) if y.grad is None else y.grad.numpy()
            assert x.grad is not None or y.grad is None, f"input {i}: no gradient, torch has one"
            gx = np.zeros_like(gy) if x.grad is None else np.asarray(x.grad)
            assert gx.dtype == x.dtype, f"input {i}: gradient dtype {gx.dtype} != input dtype {x.dtype}"
            _compare(f"grad of input {i}", gx, gy, atol, rtol)
            tg_grads.append(gx)
            th_grads.append(gy)
        COVERED["torch"].update(ran)
    return tg_out, th_out, tg_grads, th_grads


def gradcheck_op(tg_fn, inputs, seed=0, eps=1e-6, atol=1e-5, rtol=1e-3, int_inputs=None):
    """Float64 central-difference check of every differentiable input (same input specs as check_op)."""
    specs = list(inputs)
    for i, (lo, hi) in (int_inputs or {}).items():
        specs[i] = ints(*specs[i], low=lo, high=hi)
    data, diff = make_inputs(specs, np.float64, seed)
    assert any(diff), "gradcheck_op: no differentiable input"
    ins = [tg.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a for a, g in zip(data, diff)]
    with _ops_recorded(set()) as ran:
        assert gradcheck(tg_fn, ins, eps=eps, atol=atol, rtol=rtol, seed=seed)
    COVERED["gradcheck"].update(ran)


def copy_to_torch(m, tm):
    """Copy tensorgrad module m's parameters (and buffers) into the torch module tm, checking names, order and
    shapes agree."""
    ours, theirs = list(m.state_dict().items()), list(tm.state_dict().items())
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    with torch.no_grad():
        for (k, v), (_, tv) in zip(ours, theirs):
            assert tuple(v.shape) == tuple(tv.shape), k
            tv.copy_(torch.from_numpy(np.array(v.numpy())))


def assert_param_grads_match(m, tm, rtol, atol):
    """Every parameter gradient of tensorgrad module m equals that of torch module tm: the same names in the same
    order, None exactly where torch's is None, values to the tolerance."""
    theirs = dict(tm.named_parameters())
    assert [k for k, _ in m.named_parameters()] == list(theirs)
    for name, p in m.named_parameters():
        want = theirs[name].grad
        assert (p.grad is None) == (want is None), f"grad {name}: {p.grad is None and 'None'} vs torch {want}"
        if want is not None:
            np.testing.assert_allclose(p.grad.numpy(), want.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {name}")


@contextlib.contextmanager
def raises(exc, *patterns):
    """pytest.raises whose message must match every regex in patterns."""
    with pytest.raises(exc) as info:
        yield info
    for p in patterns:
        assert re.search(p, str(info.value)), f"{p!r} not in {str(info.value)!r}"


def lib(x):
    """The library of ``x``: ``lib(x).exp(x)`` is tensorgrad.exp or torch.exp -- one lambda serves both sides."""
    return torch if isinstance(x, torch.Tensor) else tg


def F(x):
    """The functional nn API of ``x``'s library (torch.nn.functional or tensorgrad.nn.functional)."""
    return torch.nn.functional if isinstance(x, torch.Tensor) else tg.nn.functional


FLOATS = [np.float64, np.float32]


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name):
    """examples/<name>.py imported as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def gradgradcheck_op(tg_fn, inputs, seed=0, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Float64 gradgradcheck (the double backward of every op fn records, against finite differences of its
    gradient); records those ops in COVERED["gradgradcheck"]. inputs: Tensors (float64, requires_grad where
    differentiated) or plain values."""
    with _ops_recorded(set()) as ran:
        tg_fn(*inputs)
    assert tg.autograd.gradgradcheck(tg_fn, list(inputs), eps=eps, atol=atol, rtol=rtol, seed=seed)
    COVERED["gradgradcheck"].update(ran)


def double_backward_raises(tg_fn, inputs, op):
    """An op that deliberately has no double backward: create_graph through it raises the clear error naming it."""
    out = tg_fn(*inputs)
    diff = [x for x in inputs if isinstance(x, tg.Tensor) and x.requires_grad]
    with pytest.raises((NotImplementedError, RuntimeError), match=op):
        g = tg.autograd.grad(out.sum(), diff, create_graph=True)
        tg.autograd.grad(sum(x.sum() for x in g), diff)
    COVERED["gradgradcheck"].add(op)


def train_tiny_gpt(half=None, device="cpu", steps=300, seed=0, on_step=None):
    """A 1-layer GPT trained ``steps`` AdamW steps on a learnable periodic sequence with 10% of its tokens replaced at
    random, under autocast(device, half) when half is a dtype; returns (mean loss of the last 20 steps, model). The
    noise keeps the loss near 1.1-1.3 instead of 0, where a relative tolerance would measure noise (without it fp32
    ended at 0.21 and a change of MKL build moved bf16 from inside 2% to 2.5% away). on_step(logits, loss): checks."""
    from tensorgrad.amp import autocast
    from tensorgrad.models.gpt import GPT, GPTConfig
    tg.manual_seed(seed)
    model = GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=1, n_head=2, n_embd=32))
    model.to(device)
    opt = model.configure_optimizers(0.0, 3e-3, (0.9, 0.95))
    rng = np.random.default_rng(seed)
    text = np.tile(rng.integers(0, 32, 97), 30)
    flip = rng.random(len(text)) < 0.1
    text[flip] = rng.integers(0, 32, int(flip.sum()))
    losses = []
    for _ in range(steps):
        ix = rng.integers(0, len(text) - 17, 8)
        x = tg.tensor(np.stack([text[i:i + 16] for i in ix]), device=device)
        y = tg.tensor(np.stack([text[i + 1:i + 17] for i in ix]), device=device)
        with autocast(device, dtype=half or tg.bfloat16, enabled=half is not None):
            logits, loss = model(x, y)
        if on_step is not None:
            on_step(logits, loss)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return float(np.mean(losses[-20:])), model


_PTX = {}


def ptx_entries(file):
    """{entry name: [PTX parameter types ('.u64', '.f32', ...)]} of csrc/cuda/<file>.cu as nvcc compiles it for
    sm_80: the kernels RawModule.get_function can find and what each takes. Skips the test without nvcc."""
    if file not in _PTX:
        import shutil
        import subprocess
        nvcc = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)
        if nvcc is None:
            pytest.skip("nvcc not installed")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        ptx = subprocess.run([nvcc, "-std=c++17", "-arch=sm_80", "-I" + os.path.join(root, "csrc", "cuda"), "-ptx",
                              "-o", "-", os.path.join(root, "csrc", "cuda", file + ".cu")],
                             capture_output=True, text=True, check=True).stdout
        _PTX[file] = {m.group(1): re.findall(r"\.param\s+(\.\w+)", m.group(2))
                      for m in re.finditer(r"\.entry\s+(\w+)\s*\(([^)]*)\)", ptx)}
    return _PTX[file]
