"""Every op on CUDA equals the CPU reference, forward and backward, on random inputs (the op-level half of the
CUDA suite; the fused kernels themselves are in test_kernels_cuda.py).

The cases are the CPU op tests' own tables (test_ops_{elementwise,reduce,movement,matmul,nn}.py), so a case
added there is one line away from running here. Each case builds the same random data (helpers.make_inputs)
as tensors on the CPU and on CUDA, runs the op on both, and checks that every CUDA output lives on CUDA, has
the CPU result's dtype, shape and requires_grad and matches its values; then backpropagates the same random
cotangent through both and checks every input's .grad the same way. float32 everywhere, float64 and float16
(forward and backward, looser tolerance) on representative subsets.

Also: a small GPT (loss, logits and every parameter gradient), Module.to / optimizer steps on CUDA, tensor
.to()/.cuda()/.cpu() round trips (with gradients flowing across devices), factories with device=, dropout
and multinomial semantics on CUDA, and mixing CPU and CUDA tensors in one op raising an error that names the
op and both devices. Skipped without CuPy and a GPU.
"""
import re

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import make_inputs, lib, F, pos, nz, ints, bools

import test_ops_elementwise as EW
import test_ops_matmul as MM
import test_ops_movement as MV
import test_ops_nn as NN
import test_ops_reduce as RD

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]

DEVICE = "cuda"
DEVICE_TYPE = tg.device(DEVICE).type

F16, F32, F64 = np.float16, np.float32, np.float64
# (atol, rtol) of CUDA vs CPU. Different summation orders / libm / kernels: a few ulp apart, not bit-equal.
TOL = {np.dtype(F64): (1e-9, 1e-9), np.dtype(F32): (5e-5, 1e-4), np.dtype(F16): (2e-2, 2e-2)}
LOOSE32 = dict(atol=1e-4, rtol=2e-4)  # layer_norm (1/std amplifies rounding of the stats), attention


# ----------------------------------------------------------------------------------------------- harness
class Case:
    """One op check: fn applied to inputs built from specs (helpers' spec language) in dtype."""

    def __init__(self, id, fn, inputs, dtype=F32, requires_grad=None, grad=True, atol=None, rtol=None, seed=0):
        self.id, self.fn, self.inputs, self.dtype = id, fn, list(inputs), np.dtype(dtype)
        self.requires_grad, self.grad, self.atol, self.rtol, self.seed = requires_grad, grad, atol, rtol, seed

    def param(self):
        return pytest.param(self, id=f"{self.id}-{self.dtype.name}")


def _params(cases):
    """pytest params, one per case; a repeated id gets a #n suffix."""
    seen, out = {}, []
    for c in cases:
        p = c.param()
        n = seen[p.id] = seen.get(p.id, 0) + 1
        out.append(pytest.param(c, id=p.id if n == 1 else f"{p.id}#{n}"))
    return out


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np(t):
    return np.asarray(t)  # Tensor.__array__ copies a cupy array to the host


def _close(what, got, want, atol, rtol):
    g, w = _np(got), _np(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != cpu {w.shape}"
    if w.dtype.kind in "biu":
        np.testing.assert_array_equal(g, w, err_msg=f"{what} (exact)")
    else:
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), atol=atol, rtol=rtol, err_msg=what,
                                   equal_nan=True)


def _on(a, device, requires_grad):
    return tg.tensor(a, device=device, requires_grad=requires_grad) if isinstance(a, np.ndarray) else a


def check_cuda(fn, inputs=(), dtype=F32, requires_grad=None, grad=True, atol=None, rtol=None, seed=0):
    """Run fn on CPU tensors and on CUDA tensors made from the same data; compare outputs and input grads."""
    dtype = np.dtype(dtype)
    data, diff = make_inputs(list(inputs), dtype, seed)
    if requires_grad is not None:
        per = requires_grad if isinstance(requires_grad, (list, tuple)) else [requires_grad] * len(data)
        diff = [d and bool(r) for d, r in zip(diff, per)]
    if not grad:
        diff = [False] * len(data)
    d_atol, d_rtol = TOL[dtype]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol

    cpu_in = [_on(a, "cpu", g) for a, g in zip(data, diff)]
    dev_in = [_on(a, DEVICE, g) for a, g in zip(data, diff)]
    for i, x in enumerate(dev_in):
        if isinstance(x, tg.Tensor):
            assert x.device.type == DEVICE_TYPE, f"input {i} was not put on {DEVICE}: {x.device}"
    want = _flat(fn(*cpu_in))
    got = _flat(fn(*dev_in))
    assert len(got) == len(want), f"{len(got)} outputs on {DEVICE}, {len(want)} on cpu"
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, tg.Tensor), f"output {i} is a {type(g).__name__}, not a Tensor"
        assert g.device.type == DEVICE_TYPE, f"output {i} is on {g.device}, not {DEVICE}"
        assert g.dtype == w.dtype, f"output {i}: dtype {g.dtype} on {DEVICE} != {w.dtype} on cpu"
        assert g.requires_grad == w.requires_grad, \
            f"output {i}: requires_grad {g.requires_grad} != cpu {w.requires_grad}"
        _close(f"output {i}", g, w, atol, rtol)

    if not any(diff):
        return got, want
    pairs = [(g, w) for g, w in zip(got, want) if w.requires_grad]
    if not pairs:
        return got, want
    rng = np.random.default_rng(seed + 1000)
    cots = [rng.standard_normal(w.shape).astype(w.dtype) for _, w in pairs]
    tg.autograd.backward([w for _, w in pairs], [tg.tensor(c) for c in cots])
    tg.autograd.backward([g for g, _ in pairs], [tg.tensor(c, device=DEVICE) for c in cots])
    for i, (x, y, d) in enumerate(zip(dev_in, cpu_in, diff)):
        if not d:
            continue
        if y.grad is None:
            assert x.grad is None, f"input {i}: gradient on {DEVICE} but none on cpu"
            continue
        assert x.grad is not None, f"input {i}: no gradient on {DEVICE}, cpu has one"
        assert x.grad.device.type == DEVICE_TYPE, f"input {i}: gradient on {x.grad.device}, input on {x.device}"
        assert x.grad.dtype == y.grad.dtype == x.dtype, \
            f"input {i}: gradient dtype {x.grad.dtype} on {DEVICE}, {y.grad.dtype} on cpu, input {x.dtype}"
        _close(f"grad of input {i}", x.grad, y.grad, atol, rtol)
    return got, want


def run(case):
    check_cuda(case.fn, case.inputs, case.dtype, case.requires_grad, case.grad, case.atol, case.rtol, case.seed)


# ----------------------------------------------------------------------------------------- elementwise
def _elementwise_cases():
    c = []
    for name, (fn, _) in EW.BINARY.items():
        for shapes in EW.PAIRS:
            c.append(Case(f"{name}-{shapes}", fn, EW._binary_specs(name, *shapes)))
    for name in ["add", "sub", "mul", "div", "maximum", "minimum"]:
        fn = EW.BINARY[name][0]
        c.append(Case(f"{name}-(3, 1, 4)x(5, 1)", fn, EW._binary_specs(name, (3, 1, 4), (5, 1)), F64))
        for req in ([True, False], [False, True]):
            c.append(Case(f"{name}-grad{req}", fn, EW._binary_specs(name, (3, 1, 4), (5, 1)), requires_grad=req))
    tie_a, tie_b = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, 5.0])
    for name in ["maximum", "minimum"]:
        c.append(Case(f"{name}-ties", EW.BINARY[name][0], [tie_a, tie_b]))
    for op, (fwd, rev) in EW.SCALAR_OPS.items():
        for s in EW.SCALARS:
            c.append(Case(f"{op}-tensor-scalar{s}", lambda x, f=fwd, s=s: f(x, s), [(3, 4)]))
            c.append(Case(f"{op}-scalar{s}-tensor", lambda x, f=rev, s=s: f(x, s), [nz(3, 4)]))
            c.append(Case(f"{op}-scalar{s}-0d", lambda x, f=rev, s=s: f(x, s), [nz()]))
    for e in EW.POW_EXPONENTS:
        base = EW.pow_base(e)
        c.append(Case(f"pow-x**{e!r}", lambda x, e=e: x ** e, [base((3, 4))]))
        c.append(Case(f"pow-fn-0d**{e!r}", lambda x, e=e: lib(x).pow(x, e), [base(())]))
    c.append(Case("pow-x**2", lambda x: x ** 2, [nz(3, 4)], F64))
    c.append(Case("pow-x**-1.5", lambda x: x ** -1.5, [pos(3, 4)], F64))
    for b in EW.POW_BASES:
        c.append(Case(f"pow-{b!r}**x", lambda x, b=b: b ** x, [(3, 4)]))
        c.append(Case(f"pow-{b!r}**0d", lambda x, b=b: b ** x, [()]))
    for sa, sb in EW.POW_PAIRS:
        c.append(Case(f"pow-tensor-{sa}**{sb}", lambda a, b: a ** b, [pos(*sa), sb]))
        c.append(Case(f"pow-fn-{sa}**{sb}", lambda a, b: lib(a).pow(a, b), [pos(*sa), sb], F64))
    c.append(Case("pow-zero-exponent", lambda x: x ** 0, [np.array([0.0, 1.5, -2.0])]))
    c.append(Case("pow-square-at-zero", lambda x: x ** 2, [np.array([0.0, 1.5, -2.0])]))
    c.append(Case("pow-zero-base", lambda x, y: x ** y,
                  [np.array([0.0, 0.0, 1.5, 2.0]), np.array([2.0, 3.0, 0.5, -1.0])]))
    for name, (fn, dom) in EW.UNARY.items():
        for shape in EW.UNARY_SHAPES:
            c.append(Case(f"{name}-{shape}", fn, [dom(shape)]))
        c.append(Case(f"{name}-(3, 4)", fn, [dom((3, 4))], F64))
    for name in EW.UNARY_F16:
        fn, dom = EW.UNARY[name]
        c.append(Case(f"{name}-(4, 5)", fn, [dom((4, 5))], F16))
    extreme = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    c.append(Case("sigmoid-extreme", lambda t: t.sigmoid(), [extreme]))
    c.append(Case("sigmoid-extreme", lambda t: t.sigmoid(), [extreme], F64))
    c.append(Case("relu-at-zero", lambda x: x.relu(), [np.array([-1.0, 0.0, 2.0])]))
    c.append(Case("abs-at-zero", lambda x: x.abs(), [np.array([-1.0, 0.0, 2.0])]))
    for approximate in ["none", "tanh"]:
        for shape in EW.GELU_SHAPES:
            c.append(Case(f"gelu-{approximate}-{shape}",
                          lambda x, a=approximate: F(x).gelu(x, approximate=a), [EW.Arg_wide(shape)]))
        c.append(Case(f"gelu-method-{approximate}", lambda x, a=approximate: x.gelu(approximate=a), [(2, 3, 4)]))
        c.append(Case(f"gelu-{approximate}", lambda x, a=approximate: F(x).gelu(x, approximate=a), [(3, 5)], F64))
        c.append(Case(f"gelu-{approximate}", lambda x, a=approximate: F(x).gelu(x, approximate=a), [(4, 6)], F16))
    c.append(Case("gelu-non-contiguous", lambda x: F(x).gelu(x.transpose(0, 1)), [(3, 5)]))
    for name, fn in EW.CLAMPS.items():
        away = EW.CLAMP_AWAY[name]
        c.append(Case(f"clamp-{name}", fn, [nz(4, 5, away=away)]))
        c.append(Case(f"clamp-{name}-0d", fn, [nz(away=away)]))
    c.append(Case("clamp-both", EW.CLAMPS["both"], [nz(4, 5, away=EW.CLAMP_AWAY["both"])], F64))
    c.append(Case("clamp-at-bounds", lambda x: x.clamp(-0.5, 0.5), [np.array([-0.5, 0.5, 0.0, 1.0, -1.0])]))
    for which in ["min", "max", "both"]:
        c.append(Case(f"clamp-tensor-bounds-{which}", EW.clamp_tensor_bounds(which), EW.CLAMP_TENSOR_SPECS))
    c.append(Case("clamp-int", lambda x: x.clamp(1, 3), [np.arange(-2, 6)]))
    c.append(Case("clamp-int-float-bound", lambda x: x.clamp(min=0.5), [np.arange(-2, 6)]))
    for sc, sa, sb in EW.WHERE_SHAPES:
        c.append(Case(f"where-{sc}-{sa}-{sb}", lambda q, a, b: lib(a).where(q, a, b), [bools(*sc), sa, sb]))
        c.append(Case(f"where-method-{sc}-{sa}-{sb}", lambda q, a, b: a.where(q, b), [bools(*sc), sa, sb]))
    c.append(Case("where-(3, 1, 4)", lambda q, a, b: lib(a).where(q, a, b), [bools(3, 1, 4), (5, 1), (4,)], F64))
    c.append(Case("where-scalar-else", lambda q, a: lib(a).where(q, a, 0.0), [bools(3, 4), (3, 4)]))
    c.append(Case("where-scalar-then", lambda q, b: lib(b).where(q, 1.5, b), [bools(3, 4), (4,)]))
    rng = np.random.default_rng(0)
    for name, f in EW.CMPS.items():
        for sa, sb in EW.CMP_PAIRS:  # small integers: many ties
            a, b = rng.integers(-2, 3, size=sa).astype(F32), rng.integers(-2, 3, size=sb).astype(F32)
            c.append(Case(f"{name}-{sa}-{sb}", f, [a, b], requires_grad=False))
            c.append(Case(f"fn_{name}-{sa}-{sb}", lambda x, y, n=name: getattr(lib(x), n)(x, y), [a, b],
                          requires_grad=False))
        c.append(Case(f"{name}-scalar", lambda x, f=f: f(x, 1.0), [rng.integers(-2, 3, (3, 4)).astype(F32)],
                      requires_grad=False))
        c.append(Case(f"{name}-scalar-left", lambda x, f=f: f(0, x), [rng.integers(-2, 3, (3, 4)).astype(F32)],
                      requires_grad=False))
        c.append(Case(f"{name}-int64", f, [rng.integers(-2, 3, (3, 4)), rng.integers(-2, 3, (4,))]))
        c.append(Case(f"{name}", f, [rng.integers(-2, 3, (3, 4)).astype(F16), rng.integers(-2, 3, (4,)).astype(F16)],
                      F16, requires_grad=False))
    for k, f in enumerate([lambda t: t.exp(), lambda t: t.log(), lambda t: t.sqrt(), lambda t: t.sigmoid(),
                           lambda t: t.tanh()]):
        c.append(Case(f"int-unary-{k}", f, [np.arange(1, 5)]))
    for k, f in enumerate([lambda t: -t, lambda t: t.abs(), lambda t: t.relu()]):
        c.append(Case(f"int-unary-exact-{k}", f, [np.arange(-2, 2)]))
    c.append(Case("promote-int-div", lambda a, b: a / b, [np.array([1, 2, 3]), np.array([2, 2, 2])]))
    return c


@pytest.mark.parametrize("case", _params(_elementwise_cases()))
def test_elementwise(case):
    run(case)


@pytest.mark.parametrize("op", ["add", "mul", "div", "pow"])
def test_mixed_float_dtypes_keep_each_grad_dtype(op):
    """float32 (3, 4) op float64 (4,): float64 result; each input's gradient keeps its dtype and device."""
    f = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
         "pow": lambda a, b: a ** b}[op]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.5, 2.0, (3, 4)).astype(F32), rng.uniform(0.5, 2.0, (4,)).astype(F64)
    c = rng.standard_normal((3, 4))
    res = {}
    for dev in ("cpu", DEVICE):
        ta, tb = tg.tensor(a, device=dev, requires_grad=True), tg.tensor(b, device=dev, requires_grad=True)
        r = f(ta, tb)
        assert r.dtype == F64 and r.device.type == tg.device(dev).type
        r.backward(tg.tensor(c, device=dev))
        assert ta.grad.dtype == F32 and tb.grad.dtype == F64
        assert ta.grad.device == ta.device and tb.grad.device == tb.device
        res[dev] = (_np(r), _np(ta.grad), _np(tb.grad))
    for what, g, w in zip(("output", "grad a", "grad b"), res[DEVICE], res["cpu"]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=what)


# ------------------------------------------------------------------------------------------ reductions
def _reduce_cases():
    c = []
    for name in RD.SIMPLE:
        for dim in RD.DIMS:
            for keepdim in (False, True):
                kw = {"dim": (0, 1, 2), "keepdim": True} if dim is None and keepdim else RD._kw(dim, keepdim)
                c.append(Case(f"{name}-{kw}", lambda x, n=name, kw=kw: getattr(x, n)(**kw), [(3, 4, 5)]))
            c.append(Case(f"fn_{name}-{dim}", lambda x, n=name, d=dim: getattr(lib(x), n)(x, **RD._kw(d, False)),
                          [(3, 4, 5)]))
        c.append(Case(f"{name}-(0, 2)", lambda x, n=name: getattr(x, n)(dim=(0, 2)), [(3, 4, 5)], F64))
        c.append(Case(f"{name}--1", lambda x, n=name: getattr(x, n)(-1), [(4, 8)], F16))
        c.append(Case(f"{name}-0d", lambda x, n=name: getattr(x, n)(), [()]))
        c.append(Case(f"{name}-0d-dim", lambda x, n=name: getattr(x, n)(-1, keepdim=True), [()]))
        c.append(Case(f"{name}-1d", lambda x, n=name: getattr(x, n)(0), [(5,)]))
    for name in ["var", "std"]:
        for dim in RD.VAR_DIMS:
            for kw in RD.VAR_KW:
                for keepdim in (False, True):
                    args = dict(kw)
                    if dim is not None:
                        args.update(dim=dim, keepdim=keepdim)
                    elif keepdim:
                        continue
                    c.append(Case(f"{name}-{args}", lambda x, n=name, a=args: getattr(x, n)(**a), [(3, 4, 5)]))
        c.append(Case(f"fn_{name}", lambda x, n=name: getattr(lib(x), n)(x, dim=1), [(3, 4, 5)]))
        c.append(Case(f"{name}-dim(0, 2)", lambda x, n=name: getattr(x, n)(dim=(0, 2)), [(3, 4, 5)], F64))
        c.append(Case(f"{name}-1d", lambda x, n=name: getattr(x, n)(), [(5,)]))
    c.append(Case("var-positional", lambda x: x.var(1, False, True), [(3, 4)]))
    c.append(Case("std-positional", lambda x: x.std(0, True), [(3, 4)]))
    for name in ["sum", "mean"]:
        c.append(Case(f"{name}-dtype-float64", lambda x, n=name: getattr(x, n)(dtype=tg.float64), [(3, 4)]))
    c.append(Case("sum-int64", lambda x: x.sum(), [np.arange(12).reshape(3, 4)]))
    c.append(Case("sum-int32", lambda x: x.sum(1), [np.arange(12).reshape(3, 4).astype(np.int32)]))
    c.append(Case("sum-bool", lambda x: x.sum(0), [np.array([[True, False], [True, True]])]))
    for name in ["max", "min"]:
        for dim in RD.MAXMIN_DIMS:
            for keepdim in (False, True):
                c.append(Case(f"{name}-dim{dim}-keepdim{keepdim}",
                              lambda x, n=name, d=dim, k=keepdim: getattr(x, n)(d, keepdim=k), [(3, 4, 5)]))
        c.append(Case(f"fn_{name}-dim1", lambda x, n=name: getattr(lib(x), n)(x, dim=1), [(3, 4, 5)]))
        c.append(Case(f"{name}-dim1", lambda x, n=name: getattr(x, n)(1), [(3, 4, 5)], F64))
        c.append(Case(f"{name}-full", lambda x, n=name: getattr(x, n)(), [(3, 4, 5)]))
        c.append(Case(f"{name}-full-0d", lambda x, n=name: getattr(x, n)(), [()]))
        c.append(Case(f"{name}-dim-ties", lambda t, n=name: getattr(t, n)(1), [RD.TIES_3x3]))
        c.append(Case(f"{name}-int", lambda x, n=name: getattr(x, n)(1), [np.array([[3, 1], [7, 2]])]))
    for name in ["max", "min", "amax", "amin"]:
        c.append(Case(f"{name}-full-ties", lambda t, n=name: getattr(t, n)(), [RD.TIES_2x3]))
    for name in ["amax", "amin"]:
        c.append(Case(f"{name}-dim-ties", lambda t, n=name: getattr(t, n)(1), [RD.TIES_3x3]))
        c.append(Case(f"{name}-dims-ties", lambda t, n=name: getattr(t, n)((0, 1), keepdim=True), [RD.TIES_3x3]))
    c.append(Case("max-of-two", lambda a, b: lib(a).max(a, b), [(3, 1, 4), (5, 1)]))
    c.append(Case("min-of-two", lambda a, b: lib(a).min(a, b), [(3, 4), (4,)]))
    for name in ["argmax", "argmin"]:
        for dim in RD.ARG_DIMS:
            for keepdim in (False, True):
                kw = {"dim": dim, "keepdim": keepdim} if dim is not None else {"keepdim": keepdim}
                c.append(Case(f"{name}-{kw}", lambda x, n=name, kw=kw: getattr(x, n)(**kw), [(3, 4, 5)]))
            c.append(Case(f"fn_{name}-{dim}", lambda x, n=name, d=dim: getattr(lib(x), n)(x, dim=d), [(3, 4, 5)]))
        c.append(Case(f"{name}-int", lambda x, n=name: getattr(x, n)(1),
                      [np.random.default_rng(0).integers(0, 100, (3, 4, 5))]))
        c.append(Case(f"{name}-0d", lambda x, n=name: getattr(x, n)(), [()]))
        c.append(Case(f"{name}-ties", lambda x, n=name: getattr(x, n)(), [np.array([1.0, 5.0, 5.0, -3.0, -3.0])]))
        c.append(Case(f"{name}-ties-dim", lambda x, n=name: getattr(x, n)(1),
                      [np.array([[1.0, 5.0, 5.0], [-3.0, -3.0, 0.0]])]))
    for dim in RD.LSE_DIMS:
        for keepdim in (False, True):
            c.append(Case(f"logsumexp-{dim}-{keepdim}", lambda x, d=dim, k=keepdim: x.logsumexp(d, keepdim=k),
                          [(3, 4, 5)]))
    c.append(Case("logsumexp-(0, 2)", lambda x: x.logsumexp((0, 2)), [(3, 4, 5)], F64))
    c.append(Case("logsumexp-large", lambda t: t.logsumexp(1),
                  [np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1.0]])]))
    return c


@pytest.mark.parametrize("case", _params(_reduce_cases()))
def test_reduce(case):
    run(case)


# ---------------------------------------------------------------------------------- movement / indexing
def _movement_cases():
    c = []
    for name, (shape, fn) in MV.MOVES.items():
        c.append(Case(name, fn, [shape]))
    for name in ["permute", "expand", "chain", "flatten_range"]:
        shape, fn = MV.MOVES[name]
        c.append(Case(name, fn, [shape], F64))
        c.append(Case(name, fn, [shape], F16))
    for name, fn in MV.IDX.items():
        c.append(Case(f"getitem-{name}", fn, [(4, 5, 6)]))
    for name in ["list_dup", "two_tensors_broadcast", "bool_mask_2d", "tensor_slice_tensor", "slice_step_offset"]:
        c.append(Case(f"getitem-{name}", MV.IDX[name], [(4, 5, 6)], F64))
    c.append(Case("getitem-0d-none", lambda x: x[None], [()]))
    c.append(Case("getitem-0d-ellipsis", lambda x: x[...], [()]))
    c.append(Case("getitem-1d-int", lambda x: x[2], [(5,)]))
    c.append(Case("getitem-1d-slice", lambda x: x[-1:], [(5,)]))
    c.append(Case("getitem-int-data", lambda x: x[1:, [0, 0]], [np.arange(12).reshape(3, 4)]))
    c.append(Case("getitem-negative-step", lambda x: x[::-1, :, ::-2], [(3, 2, 5)]))
    c.append(Case("iterate-rows", lambda x: sum(r.sum() * (i + 1) for i, r in enumerate(x)), [(3, 2)]))
    for i, (fn, shape) in enumerate(MV.SPLITS):
        c.append(Case(f"split-{i}", fn, [shape]))
    for dim in MV.CAT_DIMS:
        c.append(Case(f"cat-{dim}", lambda *xs, d=dim: lib(xs[0]).cat(xs, d), MV.cat_shapes(dim)))
        c.append(Case(f"cat-list-{dim}", lambda *xs, d=dim: lib(xs[0]).cat(list(xs), dim=d), MV.cat_shapes(dim), F64))
    c.append(Case("cat-single", lambda x: lib(x).cat([x], 0), [(2, 3)]))
    c.append(Case("cat-partial-grad", lambda a, b: lib(a).cat([a, b], 1), [(2, 3), (2, 1)],
                  requires_grad=[False, True]))
    c.append(Case("cat-same-tensor-twice", lambda a, b: lib(a).cat([a, b, a], 0), [(2, 3), (1, 3)]))
    c.append(Case("cat-promote", lambda a, b: lib(a).cat([a, b]),
                  [np.ones((2, 3), F32), np.arange(3).reshape(1, 3)]))
    for dim in MV.STACK_DIMS:
        c.append(Case(f"stack-{dim}", lambda *xs, d=dim: lib(xs[0]).stack(xs, d), [(2, 3, 4)] * 3))
    c.append(Case("stack-0d", lambda *xs: lib(xs[0]).stack(xs), [(), (), ()]))
    for sx, sm in MV.MASKED_FILL_SHAPES:
        for value in MV.MASKED_FILL_VALUES:
            c.append(Case(f"masked_fill-{sx}-{sm}-{value}", lambda x, m, v=value: x.masked_fill(m, v),
                          [sx, bools(*sm)]))
        c.append(Case(f"fn_masked_fill-{sx}-{sm}", lambda x, m: lib(x).masked_fill(x, m, 2.5), [sx, bools(*sm)], F64))
    c.append(Case("masked_fill-inf-softmax", lambda x, m: x.masked_fill(m, float("-inf")).softmax(-1),
                  [(3, 4), np.array([[False, True, False, True]] * 3)]))
    c.append(Case("masked_fill-tensor-value", lambda x, m: x.masked_fill(m, MV.T(x, 3.0).double()),
                  [(3, 4), bools(3, 4)]))
    for name in ["tril", "triu"]:
        for k in MV.TRIL_DIAGONALS:
            c.append(Case(f"{name}-{k}", lambda x, n=name, k=k: getattr(x, n)(k), [(4, 5)]))
            c.append(Case(f"fn_{name}-{k}", lambda x, n=name, k=k: getattr(lib(x), n)(x, diagonal=k), [(2, 5, 3)]))
        c.append(Case(f"{name}-int", lambda x, n=name: getattr(x, n)(), [np.arange(9).reshape(3, 3)]))
        c.append(Case(f"{name}-bool", lambda x, n=name: getattr(x, n)(1), [np.ones((3, 4), bool)]))
    return c


@pytest.mark.parametrize("case", _params(_movement_cases()))
def test_movement(case):
    run(case)


@pytest.mark.parametrize("i", range(len(MV.SETS)))
def test_setitem(i):
    fn, vshape = MV.SETS[i]
    rng = np.random.default_rng(i)
    x = rng.standard_normal((4, 5)).astype(F32)
    v = rng.standard_normal(vshape).astype(F32) if vshape else None
    a, b = tg.tensor(x), tg.tensor(x, device=DEVICE)
    fn(a, None if v is None else tg.tensor(v))
    fn(b, None if v is None else tg.tensor(v, device=DEVICE))
    assert b.device.type == DEVICE_TYPE and b.dtype == a.dtype
    np.testing.assert_array_equal(_np(b), _np(a))


def test_setitem_tensor_index_and_duplicate_index_grads():
    a = tg.tensor(np.arange(10), device=DEVICE)
    a[tg.tensor([1, 3], device=DEVICE)] = 7
    assert a.device.type == DEVICE_TYPE and a.dtype == np.int64
    assert a.tolist() == [0, 7, 2, 7, 4, 5, 6, 7, 8, 9]
    x = tg.zeros(3, device=DEVICE, requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.device.type == DEVICE_TYPE and x.grad.tolist() == [3.0, 0.0, 1.0]


# ------------------------------------------------------------------------------------------------ matmul
def _matmul_cases():
    c = []
    for shapes in MM.MATMUL_SHAPES:
        c.append(Case(f"matmul-{shapes}", lambda a, b: a @ b, list(shapes)))
        c.append(Case(f"matmul-{shapes}", lambda a, b: lib(a).matmul(a, b), list(shapes), F64))
        c.append(Case(f"matmul-{shapes}", lambda a, b: a @ b, list(shapes), F16))
        c.append(Case(f"matmul-{shapes}-grad-a", lambda a, b: a @ b, list(shapes), requires_grad=[True, False]))
        c.append(Case(f"matmul-{shapes}-grad-b", lambda a, b: a.matmul(b), list(shapes), requires_grad=[False, True]))
    c.append(Case("matmul-non-contiguous", lambda a, b: a.transpose(-1, -2) @ b.mT, [(2, 4, 3), (2, 5, 4)]))
    c.append(Case("matmul-large-k", lambda a, b: a @ b, [(16, 64), (64, 24)], F16))
    for sx, sw, sb in MM.LINEAR:
        for dt in (F32, F64, F16):
            if sb is None:
                c.append(Case(f"linear-{sx}-{sw}-nobias", lambda x, w: F(x).linear(x, w), [sx, sw], dt))
            else:
                c.append(Case(f"linear-{sx}-{sw}-{sb}", lambda x, w, b: F(x).linear(x, w, b), [sx, sw, sb], dt))
    for req in [[True, False, False], [False, True, False], [False, False, True], [False, True, True]]:
        c.append(Case(f"linear-grad{req}", lambda x, w, b: F(x).linear(x, w, b), [(2, 5, 4), (3, 4), (3,)],
                      requires_grad=req))
    return c


@pytest.mark.parametrize("case", _params(_matmul_cases()))
def test_matmul(case):
    run(case)


# ---------------------------------------------------------------------------------------------------- nn
def _nn_cases():
    c = []
    for name in ["softmax", "log_softmax"]:
        for dim in NN.SOFTMAX_DIMS:
            c.append(Case(f"{name}-{dim}", lambda x, n=name, d=dim: getattr(x, n)(d), [(3, 4, 5)]))
            c.append(Case(f"F_{name}-{dim}", lambda x, n=name, d=dim: getattr(F(x), n)(x, dim=d), [(3, 4, 5)], F64))
        c.append(Case(f"fn_{name}", lambda x, n=name: getattr(lib(x), n)(x, 1), [(3, 4, 5)]))
        c.append(Case(f"{name}-1d", lambda x, n=name: getattr(x, n)(0), [(6,)]))
        c.append(Case(f"{name}-extreme", lambda x, n=name: getattr(x, n)(-1),
                      [np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]])]))
        c.append(Case(f"{name}-(3, 8)", lambda x, n=name: getattr(x, n)(-1), [(3, 8)], F16))
    c.append(Case("softmax-dtype-float64", lambda x: F(x).softmax(x, -1, dtype=tg.float64), [(3, 4)]))
    for case, (sx, st, kw) in NN.CE_CASES.items():
        ncls = sx[1] if len(sx) > 1 else sx[0]
        for dt in (F32, F64):
            c.append(Case(f"cross_entropy-{case}", NN._ce(**kw), [sx, ints(*st, high=ncls)], dt))
        if case in ("mean", "sum", "none", "label_smoothing", "NCd", "C_only"):
            c.append(Case(f"cross_entropy-{case}", NN._ce(**kw), [sx, ints(*st, high=ncls)], F16))
    c.append(Case("cross_entropy-wide", NN._ce(), [(8, 300), ints(8, high=300)]))
    c.append(Case("cross_entropy-wide", NN._ce(label_smoothing=0.1), [(8, 300), ints(8, high=300)], F16))
    for reduction in ["mean", "sum", "none"]:
        for ls in [0.0, 0.2]:
            t = np.array([0, -100, 3, 1, -100, 4])
            c.append(Case(f"cross_entropy-ignore-{reduction}-{ls}", NN._ce(reduction, label_smoothing=ls), [(6, 5), t]))
            t2 = np.array([0, 2, 3, 2, 2, 4])
            c.append(Case(f"cross_entropy-ignore2-{reduction}-{ls}",
                          NN._ce(reduction, label_smoothing=ls, ignore_index=2), [(6, 5), t2]))
        c.append(Case(f"cross_entropy-ignore-NCd-{reduction}", NN._ce(reduction, ignore_index=1),
                      [(2, 5, 3), np.array([[0, 1, 4], [1, 1, 2]])]))
        c.append(Case(f"nll_loss-log_softmax-{reduction}",
                      lambda x, t, r=reduction: F(x).nll_loss(F(x).log_softmax(x, -1), t, reduction=r),
                      [(6, 5), ints(6, high=5)]))
        c.append(Case(f"nll_loss-{reduction}", lambda x, t, r=reduction: F(x).nll_loss(x, t, reduction=r),
                      [(6, 5), ints(6, high=5)], F64))
        c.append(Case(f"nll_loss-ignore-{reduction}",
                      lambda x, t, r=reduction: F(x).nll_loss(x, t, reduction=r, ignore_index=-100),
                      [(5, 4), np.array([1, -100, 3, 3, -100])]))
        c.append(Case(f"mse_loss-{reduction}", lambda x, y, r=reduction: F(x).mse_loss(x, y, reduction=r),
                      [(3, 4), (3, 4)]))
        c.append(Case(f"mse_loss-0d-{reduction}", lambda x, y, r=reduction: F(x).mse_loss(x, y, reduction=r), [(), ()]))
        for weighted in (False, True):
            f, specs, _ = NN.bce_case(reduction, weighted)
            c.append(Case(f"bce-{reduction}-weighted{weighted}", f, specs))
        for extra in NN.BCE_LOGITS_EXTRAS:
            f, specs, _ = NN.bce_logits_case(reduction, extra)
            c.append(Case(f"bce_logits-{reduction}-{extra}", f, specs))
    c.append(Case("bce-saturated", lambda a, b: F(a).binary_cross_entropy(a, b),
                  [np.array([0.0, 1.0, 0.5, 1.0]), np.array([1.0, 0.0, 1.0, 1.0])], grad=False))
    x_ext, y_ext = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]), np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    c.append(Case("bce_logits-extreme", lambda a, b: F(a).binary_cross_entropy_with_logits(a, b), [x_ext, y_ext]))
    c.append(Case("bce_logits-extreme-pos_weight",
                  lambda a, b, w: F(a).binary_cross_entropy_with_logits(a, b, pos_weight=w),
                  [x_ext, y_ext, np.array([2.0])]))
    for case, (sx, ns, w, b) in NN.LN_CASES.items():
        c.append(Case(f"layer_norm-{case}", NN._ln_fn(ns, w, b), NN._ln_specs(sx, ns, w, b), **LOOSE32))
        c.append(Case(f"layer_norm-{case}", NN._ln_fn(ns, w, b), NN._ln_specs(sx, ns, w, b), F64))
        c.append(Case(f"layer_norm-{case}", NN._ln_fn(ns, w, b), NN._ln_specs(sx, ns, w, b), F16))
    c.append(Case("layer_norm-wide", NN._ln_fn((384,), True, True), NN._ln_specs((6, 384), (384,), True, True),
                  **LOOSE32))
    c.append(Case("layer_norm-wide", NN._ln_fn((384,), True, True), NN._ln_specs((6, 384), (384,), True, True), F16))
    c.append(Case("layer_norm-eps", lambda x, w, b: F(x).layer_norm(x, (5,), w, b, eps=1e-2), [(3, 5), (5,), (5,)],
                  **LOOSE32))
    c.append(Case("layer_norm-list-shape", lambda x: F(x).layer_norm(x, [5]), [(3, 5)], **LOOSE32))
    for req in ([False, True, True], [True, False, False]):
        c.append(Case(f"layer_norm-grad{req}", NN._ln_fn((6,), True, True), [(4, 6), (6,), (6,)],
                      requires_grad=req, **LOOSE32))
    c.append(Case("layer_norm-non-contiguous", lambda x, w, b: F(x).layer_norm(x.transpose(0, 1), (4,), w, b),
                  [(4, 3), (4,), (4,)], **LOOSE32))
    for case, (shapes, kw) in NN.SDPA_CASES.items():
        c.append(Case(f"sdpa-{case}", NN._sdpa(**kw), list(shapes), **LOOSE32))
        c.append(Case(f"sdpa-{case}", NN._sdpa(**kw), list(shapes), F64))
        if case in ("4d", "4d_causal", "3d_causal", "tq_ne_tk", "tq_ne_tk_causal", "ev_ne_e"):
            c.append(Case(f"sdpa-{case}", NN._sdpa(**kw), list(shapes), F16))
    c.append(Case("sdpa-long-causal", NN._sdpa(is_causal=True), [(2, 2, 70, 32)] * 3, **LOOSE32))
    c.append(Case("sdpa-long-causal", NN._sdpa(is_causal=True), [(2, 2, 70, 32)] * 3, F16))
    for ms in NN.BOOL_MASK_SHAPES:
        c.append(Case(f"sdpa-bool-mask-{ms}", NN._sdpa(),
                      [(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 4), NN.bool_attn_mask(ms)], **LOOSE32))
    for ms in NN.FLOAT_MASK_SHAPES:
        c.append(Case(f"sdpa-float-mask-{ms}", NN._sdpa(), [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4), ms], **LOOSE32))
        c.append(Case(f"sdpa-float-mask-3d-{ms}", NN._sdpa(scale=0.5), [(3, 5, 4), (3, 5, 4), (3, 5, 4), ms[-2:]], F64))
    neg_inf = np.where(np.tril(np.ones((4, 4))) > 0, 0.0, -np.inf)
    c.append(Case("sdpa-neg-inf-mask", NN._sdpa(), [(2, 4, 3), (2, 4, 3), (2, 4, 3), neg_inf],
                  requires_grad=[True, True, True, False], **LOOSE32))
    shapes, kw = NN.SDPA_CASES["4d_causal"]
    for req in ([True, False, False], [False, True, False], [False, False, True]):
        c.append(Case(f"sdpa-grad{req}", NN._sdpa(**kw), list(shapes), requires_grad=req, **LOOSE32))
    gpt_layout = lambda q, k, v: F(q).scaled_dot_product_attention(  # noqa: E731
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    c.append(Case("sdpa-non-contiguous", gpt_layout, [(2, 5, 3, 4)] * 3, **LOOSE32))
    c.append(Case("sdpa-non-contiguous", gpt_layout, [(2, 5, 3, 4)] * 3, F64))
    for shape, n_head, kw in NN.PACKED_CASES:
        fn = lambda qkv, h=n_head, kw=kw: F(qkv).packed_attention(qkv, h, **kw)  # noqa: E731
        c.append(Case(f"packed_attention-{shape}-{n_head}-{kw}", fn, [shape], **LOOSE32))
        c.append(Case(f"packed_attention-{shape}-{n_head}-{kw}", fn, [shape], F64))
        c.append(Case(f"packed_attention-{shape}-{n_head}-{kw}", fn, [shape], F16))
    for idx_shape in NN.EMBED_IDX_SHAPES:
        c.append(Case(f"embedding-{idx_shape}", lambda i, w: F(w).embedding(i, w), [ints(*idx_shape, high=4), (4, 3)]))
    c.append(Case("embedding-(3, 4)", lambda i, w: F(w).embedding(i, w), [ints(3, 4, high=4), (4, 3)], F64))
    for shape in [(5,), (2, 3), ()]:
        idx = np.random.default_rng(0).integers(0, 4, size=shape) if shape else np.array(3)
        for ncls in (-1, 6):
            c.append(Case(f"one_hot-{shape}-{ncls}", lambda t, n=ncls: F(t).one_hot(t, n), [idx]))
    for k, dim, largest in NN.TOPK_CASES:
        c.append(Case(f"topk-{k}-{dim}-{largest}", lambda x, k=k, d=dim, lg=largest: x.topk(k, dim=d, largest=lg),
                      [(4, 5)], grad=False))
        c.append(Case(f"fn_topk-{k}-{dim}-{largest}", lambda x, k=k, d=dim, lg=largest: lib(x).topk(x, k, d, lg),
                      [(4, 5)], F64, grad=False))
    c.append(Case("sort", lambda t: lib(t).sort(t, dim=-1), [(3, 6)], grad=False))
    c.append(Case("sort-descending", lambda t: lib(t).sort(t, dim=0, descending=True), [(3, 6)], grad=False))
    for p, training in [(0.0, True), (0.7, False)]:
        c.append(Case(f"dropout-identity-{p}-{training}", lambda t, p=p, tr=training: F(t).dropout(t, p, training=tr),
                      [(4, 5)]))
    return c


@pytest.mark.parametrize("case", _params(_nn_cases()))
def test_nn(case):
    run(case)


@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_on_device(p, dtype):
    """Kept entries scaled by exactly 1/(1-p), dropped fraction ~p, gradient = the same mask; all on the device."""
    n = 200_000
    x = tg.full((n,), 2.0, dtype=dtype, device=DEVICE, requires_grad=True)
    y = tg.nn.functional.dropout(x, p)
    assert y.device.type == DEVICE_TYPE and y.dtype == dtype
    out = _np(y).astype(np.float64)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 2.0 / (1.0 - p), rtol=1e-6 if dtype == F32 else 1e-3)
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs((1 - kept.mean()) - p) < 5 * sigma
    c = np.random.default_rng(0).standard_normal(n).astype(dtype)
    y.backward(tg.tensor(c, device=DEVICE))
    assert x.grad.device.type == DEVICE_TYPE and x.grad.dtype == dtype
    np.testing.assert_allclose(_np(x.grad).astype(np.float64), c.astype(np.float64) * (out / 2.0),
                               rtol=1e-6 if dtype == F32 else 1e-2, atol=0 if dtype == F32 else 1e-3)


def test_dropout_p1_and_seeding_on_device():
    x = tg.randn(3, 4, device=DEVICE, requires_grad=True)
    y = tg.nn.functional.dropout(x, 1.0)
    assert y.device.type == DEVICE_TYPE and not _np(y).any()
    y.sum().backward()
    assert x.grad.device.type == DEVICE_TYPE and not _np(x.grad).any()
    tg.manual_seed(5)
    a = _np(tg.nn.functional.dropout(tg.ones(64, device=DEVICE), 0.5))
    tg.manual_seed(5)
    b = _np(tg.nn.functional.dropout(tg.ones(64, device=DEVICE), 0.5))
    np.testing.assert_array_equal(a, b)
    assert 0 < (a == 0).sum() < 64


def test_checkpoint_replays_the_same_dropout_mask_on_device():
    """tg.checkpoint saves the RNG state and restores it for the recompute in backward; on CUDA the dropout mask
    drawn again must be the one forward used, so the gradient is exactly d(dropout(x) * 3)/dx = 3 * mask / (1-p)."""
    tg.manual_seed(0)
    x = tg.tensor(np.random.default_rng(0).uniform(0.5, 1.5, 4096).astype(F32), device=DEVICE, requires_grad=True)
    y = tg.checkpoint(lambda t: tg.nn.functional.dropout(t, 0.5) * 3.0, x)
    y.sum().backward()
    assert x.grad.device.type == DEVICE_TYPE
    np.testing.assert_allclose(_np(x.grad), np.where(_np(y) != 0, 6.0, 0.0), rtol=1e-6,
                               err_msg="recompute drew a different dropout mask than forward")


def test_packed_attention_with_dropout_on_device():
    tg.manual_seed(0)
    qkv = tg.randn(2, 5, 12, device=DEVICE, requires_grad=True)
    y = tg.nn.functional.packed_attention(qkv, 2, dropout_p=0.5)
    assert y.shape == (2, 5, 4) and y.device.type == DEVICE_TYPE
    y.sum().backward()
    assert qkv.grad.shape == qkv.shape and qkv.grad.device.type == DEVICE_TYPE


def test_multinomial_on_device():
    g = tg.Generator(seed=3)
    p = tg.tensor(np.random.default_rng(0).random((3, 6)).astype(F32), device=DEVICE)
    s = tg.multinomial(p, 4, generator=g)
    assert s.device.type == DEVICE_TYPE and s.dtype == np.int64 and s.shape == (3, 4)
    for row in s.tolist():
        assert len(set(row)) == 4 and all(0 <= v < 6 for v in row)
    p1 = tg.tensor([0.2, 0.0, 0.5, 0.3], device=DEVICE)
    s1 = p1.multinomial(50, replacement=True, generator=g)
    assert s1.device.type == DEVICE_TYPE and set(s1.tolist()) <= {0, 2, 3}


# ------------------------------------------------------------------------------------------------ models
def _gpt_pair(cfg):
    from tensorgrad.models.gpt import GPT
    tg.manual_seed(0)
    ref = GPT(cfg)
    tg.manual_seed(0)
    dev = GPT(cfg)
    for (n, a), (_, b) in zip(ref.named_parameters(), dev.named_parameters()):
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=f"{n}: same seed, different init")
    params = list(dev.parameters())
    assert dev.to(DEVICE) is dev
    assert [id(p) for p in dev.parameters()] == [id(p) for p in params], "Module.to must keep Parameter identity"
    assert dev.transformer.wte.weight is dev.lm_head.weight, "weight tying lost by Module.to"
    for n, p in dev.named_parameters():
        assert p.device.type == DEVICE_TYPE, f"{n} on {p.device}"
    return ref, dev


def test_gpt_forward_backward_matches_cpu():
    from tensorgrad.models.gpt import GPTConfig
    cfg = GPTConfig(block_size=16, vocab_size=37, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    ref, dev = _gpt_pair(cfg)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg.vocab_size, (3, 16))
    tgt = rng.integers(0, cfg.vocab_size, (3, 16))
    tgt[0, :3] = -1  # GPT's ignore_index
    lr, loss_r = ref(tg.tensor(idx), tg.tensor(tgt))
    ld, loss_d = dev(tg.tensor(idx, device=DEVICE), tg.tensor(tgt, device=DEVICE))
    assert ld.device.type == DEVICE_TYPE and loss_d.device.type == DEVICE_TYPE and loss_d.dtype == loss_r.dtype
    np.testing.assert_allclose(loss_d.item(), loss_r.item(), rtol=1e-5, err_msg="loss")
    _close("logits", ld, lr, 1e-4, 1e-4)
    loss_r.backward()
    loss_d.backward()
    for (n, pr), (_, pd) in zip(ref.named_parameters(), dev.named_parameters()):
        assert pd.grad is not None, f"{n}: no gradient on {DEVICE}"
        assert pd.grad.device.type == DEVICE_TYPE and pd.grad.dtype == pr.grad.dtype, n
        scale = float(np.abs(_np(pr.grad)).max()) or 1.0
        _close(f"grad of {n}", pd.grad, pr.grad, 1e-4 * scale, 1e-3)
    # inference path (last position only, no targets)
    with tg.no_grad():
        lr2, _ = ref(tg.tensor(idx[:, :9]))
        ld2, _ = dev(tg.tensor(idx[:, :9], device=DEVICE))
    assert ld2.shape == (3, 1, cfg.vocab_size) and ld2.device.type == DEVICE_TYPE
    _close("inference logits", ld2, lr2, 1e-4, 1e-4)


def test_gpt_training_steps_and_generate_on_device():
    from tensorgrad.models.gpt import GPTConfig
    cfg = GPTConfig(block_size=8, vocab_size=20, n_layer=1, n_head=2, n_embd=16, dropout=0.0)
    ref, dev = _gpt_pair(cfg)
    rng = np.random.default_rng(1)
    idx, tgt = rng.integers(0, 20, (4, 8)), rng.integers(0, 20, (4, 8))
    losses = {}
    for name, model, d in (("cpu", ref, "cpu"), (DEVICE, dev, DEVICE)):
        opt = model.configure_optimizers(0.1, 1e-2, (0.9, 0.95))
        out = []
        for _ in range(3):
            opt.zero_grad()
            _, loss = model(tg.tensor(idx, device=d), tg.tensor(tgt, device=d))
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[name] = out
    # Losses only: Adam turns gradients that are zero up to rounding (the key bias: softmax is shift invariant)
    # into +-lr steps whose sign differs between devices, so parameters may differ there without changing the loss.
    np.testing.assert_allclose(losses[DEVICE], losses["cpu"], rtol=1e-4)
    assert losses[DEVICE][-1] < losses[DEVICE][0]
    for n, p in dev.named_parameters():
        assert p.device.type == DEVICE_TYPE and p.grad.device.type == DEVICE_TYPE, n
    out = dev.generate(tg.tensor(idx[:1, :3], device=DEVICE), 6, top_k=5, generator=tg.Generator(seed=0))
    assert out.shape == (1, 9) and out.dtype == np.int64
    assert out.tolist()[0][:3] == idx[0, :3].tolist() and all(0 <= v < 20 for v in out.tolist()[0])


def _small_net():
    nn = tg.nn
    return nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 3))


def test_module_to_device_and_back():
    tg.manual_seed(0)
    ref = _small_net()
    tg.manual_seed(0)
    m = _small_net()
    before = {n: _np(p).copy() for n, p in m.named_parameters()}
    params = list(m.parameters())
    assert m.to(DEVICE) is m
    assert all(a is b for a, b in zip(m.parameters(), params)), "Module.to must keep Parameter identity"
    for n, p in m.named_parameters():
        assert p.device.type == DEVICE_TYPE and p.dtype == F32 and p.requires_grad, n
        np.testing.assert_array_equal(_np(p), before[n], err_msg=n)
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(F32)
    yr, yd = ref(tg.tensor(x)), m(tg.tensor(x, device=DEVICE))
    assert yd.device.type == DEVICE_TYPE
    _close("forward", yd, yr, 5e-5, 1e-4)
    (yr * yr).sum().backward()
    (yd * yd).sum().backward()
    for (n, pr), (_, pd) in zip(ref.named_parameters(), m.named_parameters()):
        assert pd.grad.device.type == DEVICE_TYPE, n
        _close(f"grad of {n}", pd.grad, pr.grad, 5e-5, 1e-4)
    for make in (lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: tg.optim.AdamW(ps, lr=0.01)):
        opt_r, opt_d = make(ref.parameters()), make(m.parameters())
        opt_r.step()
        opt_d.step()
        for (n, pr), (_, pd) in zip(ref.named_parameters(), m.named_parameters()):
            assert pd.device.type == DEVICE_TYPE, n
            _close(f"{n} after {type(opt_d).__name__}.step", pd, pr, 1e-6, 1e-5)
    m.to("cpu")
    for (n, pr), (_, pc) in zip(ref.named_parameters(), m.named_parameters()):
        assert pc.device.type == "cpu" and pc.grad.device.type == "cpu", n
        _close(f"{n} back on cpu", pc, pr, 1e-6, 1e-5)
    m.to(DEVICE, tg.float64)
    assert all(p.device.type == DEVICE_TYPE and p.dtype == F64 for p in m.parameters())
    assert m(tg.tensor(x.astype(F64), device=DEVICE)).dtype == F64


# ------------------------------------------------------------------------------------ devices / transfers
def test_tensor_round_trips():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(F32)
    x = tg.tensor(a)
    y = x.to(DEVICE)
    assert y.device.type == DEVICE_TYPE and y.is_cuda == (DEVICE_TYPE == "cuda") and y.dtype == F32
    assert y.to(DEVICE) is y  # no-op
    np.testing.assert_array_equal(_np(y), a)
    z = y.cpu()
    assert z.device.type == "cpu" and z.dtype == F32 and isinstance(z.array, np.ndarray)
    np.testing.assert_array_equal(_np(z), a)
    np.testing.assert_array_equal(y.detach().numpy(), a)
    w = x.to(DEVICE, tg.float64)
    assert w.device.type == DEVICE_TYPE and w.dtype == F64
    np.testing.assert_array_equal(_np(w), a.astype(F64))
    h = x.half().to(DEVICE)
    assert h.device.type == DEVICE_TYPE and h.dtype == F16
    assert x.to(y).device == y.device and y.to(x).device.type == "cpu"
    assert y.to(tg.zeros(2, dtype=tg.float64)).dtype == F64
    for arr in (np.arange(6).reshape(2, 3), np.array([True, False, True]), np.array(2.5, F32)):
        t = tg.tensor(arr, device=DEVICE)
        assert t.device.type == DEVICE_TYPE and t.dtype == arr.dtype and t.shape == arr.shape
        np.testing.assert_array_equal(_np(t.cpu()), arr)
        assert t.tolist() == arr.tolist()
    assert tg.tensor(2.5, device=DEVICE).item() == 2.5
    assert tg.tensor([1.0, 2.0], device=DEVICE).dtype == F32  # python floats -> default dtype
    assert tg.tensor([1, 2], device=DEVICE).dtype == np.int64
    assert tg.tensor(y).device == y.device  # tensor(tensor) copies and keeps the device
    assert "device=" in repr(y) and DEVICE_TYPE in repr(y)


def test_to_device_against_torch_and_gradcheck():
    """ToDevice as an op: a CPU -> CUDA -> CPU path, checked against torch's .cuda()/.cpu() (forward and the
    gradients flowing back across both transfers) and by float64 gradcheck."""
    import torch
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here: no torch side to compare with")
    from helpers import check_op, gradcheck_op
    fn = lambda a, b: (a.cuda() * b.cuda()).exp().cpu() + a
    check_op(fn, inputs=[(3, 4), (4,)], atol=1e-9, rtol=1e-9)
    check_op(fn, inputs=[(3, 4), (4,)], dtype=F32, atol=1e-5, rtol=1e-5)
    gradcheck_op(fn, [(3, 4), (4,)])


def test_layers_built_on_device():
    nn = tg.nn
    for m in (nn.Linear(3, 4, device=DEVICE), nn.Embedding(5, 3, device=DEVICE), nn.LayerNorm(4, device=DEVICE),
              nn.Linear(3, 4, device=DEVICE, dtype=tg.float64)):
        for n, p in m.named_parameters():
            assert p.device.type == DEVICE_TYPE and p.requires_grad, f"{type(m).__name__}.{n} on {p.device}"
    y = nn.Linear(3, 4, device=DEVICE)(tg.randn(2, 3, device=DEVICE))
    assert y.device.type == DEVICE_TYPE and y.shape == (2, 4)


def test_cuda_aliases():
    x = tg.ones(2)
    assert x.cuda().device == tg.device("cuda:0") and x.cuda(0).device.type == "cuda"
    assert str(x.cuda().device) == "cuda:0" and x.cuda().cpu().device.type == "cpu"
    m = tg.nn.Linear(2, 2).cuda()
    assert m.weight.device.type == "cuda"
    assert m.cpu().weight.device.type == "cpu"


def test_gradients_flow_across_devices():
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(F32)
    x = tg.tensor(a, requires_grad=True)
    y = x.to(DEVICE)
    assert y.requires_grad and y.grad_fn is not None
    ((y * y).sum()).backward()
    assert x.grad.device.type == "cpu" and x.grad.dtype == F32
    np.testing.assert_allclose(_np(x.grad), 2 * a, rtol=1e-6)
    u = tg.tensor(a, device=DEVICE, requires_grad=True)
    v = u.cpu().to(tg.float64)
    (v * 3).sum().backward()
    assert u.grad.device.type == DEVICE_TYPE and u.grad.dtype == F32
    np.testing.assert_allclose(_np(u.grad), np.full_like(a, 3.0))


FACTORIES = {
    "zeros": lambda d: tg.zeros(2, 3, device=d),
    "ones-f64": lambda d: tg.ones((2, 3), dtype=tg.float64, device=d),
    "empty": lambda d: tg.empty(4, device=d).zero_(),
    "full-float": lambda d: tg.full((2, 2), 1.5, device=d),
    "full-int": lambda d: tg.full(3, 7, device=d),
    "full-bool": lambda d: tg.full(3, True, device=d),
    "arange-int": lambda d: tg.arange(5, device=d),
    "arange-float": lambda d: tg.arange(0.0, 1.0, 0.25, device=d),
    "linspace": lambda d: tg.linspace(0, 1, 5, device=d),
    "eye": lambda d: tg.eye(3, 4, device=d),
    "tensor-list": lambda d: tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=d),
    "tensor-f16": lambda d: tg.tensor([1.0, 2.0], dtype=tg.float16, device=d),
    "zeros_like": lambda d: tg.zeros_like(tg.ones(2, 3, device=d)),
    "ones_like-dtype": lambda d: tg.ones_like(tg.ones(2, 3, device=d), dtype=tg.float64),
    "full_like": lambda d: tg.full_like(tg.ones(2, device=d), 4.0),
    "zeros-requires-grad": lambda d: tg.zeros(3, device=d, requires_grad=True),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_factories_with_device(name):
    want, got = FACTORIES[name]("cpu"), FACTORIES[name](DEVICE)
    assert got.device.type == DEVICE_TYPE, f"{name} made a tensor on {got.device}"
    assert got.dtype == want.dtype and got.shape == want.shape and got.requires_grad == want.requires_grad
    _close(name, got, want, 0, 1e-6)


RANDOM_FACTORIES = {
    "randn": lambda d, g: tg.randn(500, device=d, generator=g),
    "randn-f64": lambda d, g: tg.randn(500, dtype=tg.float64, device=d, generator=g),
    "randn-f16": lambda d, g: tg.randn(500, dtype=tg.float16, device=d, generator=g),
    "rand": lambda d, g: tg.rand(500, device=d, generator=g),
    "randint": lambda d, g: tg.randint(0, 7, (500,), device=d, generator=g),
    "randn_like": lambda d, g: tg.randn_like(tg.ones(500, device=d), generator=g),
    "rand_like": lambda d, g: tg.rand_like(tg.ones(500, device=d), generator=g),
    "normal_": lambda d, g: tg.zeros(500, device=d).normal_(generator=g),
    "uniform_": lambda d, g: tg.zeros(500, device=d).uniform_(-2.0, 2.0, generator=g),
}


@pytest.mark.parametrize("name", list(RANDOM_FACTORIES))
def test_random_factories_with_device(name):
    want = RANDOM_FACTORIES[name]("cpu", tg.Generator(seed=1))
    a = RANDOM_FACTORIES[name](DEVICE, tg.Generator(seed=1))
    b = RANDOM_FACTORIES[name](DEVICE, tg.Generator(seed=1))
    assert a.device.type == DEVICE_TYPE and a.dtype == want.dtype and a.shape == want.shape
    np.testing.assert_array_equal(_np(a), _np(b), err_msg="same seed, different draws")
    v = _np(a).astype(np.float64)
    if name in ("rand", "rand_like"):
        assert v.min() >= 0.0 and v.max() < 1.0
    if name == "randint":
        assert v.min() >= 0 and v.max() < 7 and len(np.unique(v)) == 7
    if name == "uniform_":
        assert v.min() >= -2.0 and v.max() < 2.0
    if name.startswith(("randn", "normal_")):
        assert abs(v.mean()) < 0.2 and 0.8 < v.std() < 1.2


# -------------------------------------------------------------------------------------- mixed devices
def _cpu_gpu(*shape, dtype=tg.float32):
    return tg.randn(*shape, dtype=dtype), tg.randn(*shape, dtype=dtype, device=DEVICE)


def _idx(device):
    return tg.tensor([0, 2, 1], device=device)


# id -> (thunk, regex the message must match besides 'cpu' and 'cuda': the op or the primitive it runs)
MIXED = {
    "add": (lambda: (lambda a, b: a + b)(*_cpu_gpu(3, 3)), r"(?i)add"),
    "add-reversed": (lambda: (lambda a, b: b + a)(*_cpu_gpu(3, 3)), r"(?i)add"),
    "sub": (lambda: (lambda a, b: a - b)(*_cpu_gpu(3, 3)), r"(?i)sub"),
    "mul": (lambda: (lambda a, b: a * b)(*_cpu_gpu(3, 3)), r"(?i)mul"),
    "div": (lambda: (lambda a, b: a / b)(*_cpu_gpu(3, 3)), r"(?i)div"),
    "pow": (lambda: (lambda a, b: a.abs() ** b)(*_cpu_gpu(3, 3)), r"(?i)pow"),
    "maximum": (lambda: tg.maximum(*_cpu_gpu(3, 3)), r"(?i)maximum"),
    "add-broadcast": (lambda: tg.randn(3, 1) + tg.randn(4, device=DEVICE), r"(?i)add"),
    "add-mixed-dtype": (lambda: tg.randn(3) + tg.randn(3, dtype=tg.float64, device=DEVICE), r"(?i)add"),
    "matmul": (lambda: (lambda a, b: a @ b)(*_cpu_gpu(3, 3)), r"(?i)mat_?mul"),
    "matmul-mixed-dtype": (lambda: tg.randn(3, 3) @ tg.randn(3, 3, dtype=tg.float64, device=DEVICE), r"(?i)mat_?mul"),
    "linear": (lambda: tg.nn.functional.linear(*_cpu_gpu(3, 3)), r"(?i)linear"),
    "linear-bias": (lambda: tg.nn.functional.linear(tg.randn(2, 3, device=DEVICE), tg.randn(4, 3, device=DEVICE),
                                                    tg.randn(4)), r"(?i)linear"),
    "where": (lambda: (lambda a, b: tg.where(a > 0, a, b))(*_cpu_gpu(3, 3)), r"(?i)where"),
    "where-cond": (lambda: (lambda a, b: tg.where(a > 0, b, b))(*_cpu_gpu(3, 3)), r"(?i)where"),
    "cat": (lambda: tg.cat(list(_cpu_gpu(2, 3))), r"(?i)cat"),
    "stack": (lambda: tg.stack(list(_cpu_gpu(2, 3))), r"(?i)stack|cat"),
    "layer_norm-weight": (lambda: tg.nn.functional.layer_norm(tg.randn(2, 3, device=DEVICE), (3,), tg.ones(3)),
                          r"(?i)layer_?norm"),
    "sdpa": (lambda: tg.nn.functional.scaled_dot_product_attention(
        tg.randn(1, 4, 8), tg.randn(1, 4, 8, device=DEVICE), tg.randn(1, 4, 8, device=DEVICE)), r"(?i)attention"),
    "mse_loss": (lambda: tg.nn.functional.mse_loss(*_cpu_gpu(3, 3)), r"(?i)mse_loss|sub"),
    # The ops below hand the second tensor's raw array to the kernel instead of a Tensor to Function.apply, so the
    # generic device check never sees it (see the report that came with this file).
    "masked_fill-mask": (lambda: tg.randn(3, 3, device=DEVICE).masked_fill(tg.randn(3, 3) > 0, 0.0),
                         r"(?i)masked_fill"),
    "embedding-idx": (lambda: tg.nn.functional.embedding(_idx("cpu"), tg.randn(4, 3, device=DEVICE)), r"(?i)embedding"),
    "embedding-weight": (lambda: tg.nn.functional.embedding(_idx(DEVICE), tg.randn(4, 3)), r"(?i)embedding"),
    "cross_entropy-target": (lambda: tg.nn.functional.cross_entropy(tg.randn(3, 4, device=DEVICE), _idx("cpu")),
                             r"(?i)cross_entropy"),
    "nll_loss-target": (lambda: tg.nn.functional.nll_loss(tg.randn(3, 4, device=DEVICE), _idx("cpu")), r"(?i)nll_loss"),
    "eq": (lambda: (lambda a, b: a == b)(*_cpu_gpu(3, 3)), r"(?i)eq"),
    "lt": (lambda: (lambda a, b: a < b)(*_cpu_gpu(3, 3)), r"(?i)lt"),
    "getitem-cuda-index-into-cpu-tensor": (lambda: tg.randn(4, 3)[_idx(DEVICE)], r"(?i)getitem"),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixed_devices_raise_a_clear_error(name):
    """torch raises 'Expected all tensors to be on the same device'; tensorgrad must too, naming the op (or the
    primitive it runs), and both devices -- not a bare CuPy/NumPy TypeError, and not a silent host copy."""
    thunk, op = MIXED[name]
    with pytest.raises(RuntimeError) as e:
        thunk()
    msg = str(e.value)
    for pat in (op, r"cpu", r"cuda"):
        assert re.search(pat, msg), f"message {msg!r} does not match {pat!r}"


def test_cuda_tensor_indexed_by_cpu_index_tensor():
    """torch allows a CPU index tensor into a CUDA tensor; tensorgrad should either do the same (result on the
    CUDA device, equal to the CPU result) or raise a clear RuntimeError naming getitem and both devices."""
    a = np.arange(12.0, dtype=F32).reshape(4, 3)
    try:
        r = tg.tensor(a, device=DEVICE)[_idx("cpu")]
    except RuntimeError as e:
        assert "getitem" in str(e) and "cpu" in str(e) and "cuda" in str(e), str(e)
        return
    assert r.device.type == DEVICE_TYPE
    np.testing.assert_array_equal(_np(r), a[[0, 2, 1]])
