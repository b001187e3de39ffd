"""The APIs added after test_ops_cuda_api.py, on CUDA against the CPU result: convolutions and unfold/fold, the
pools, batch / instance / group / local-response norm, scaled_dot_product_attention with fully masked query rows,
the nn modules built on them (Conv*, pools, norms, MultiheadAttention, Transformer layers), the optimizers RMSprop,
Adagrad, Adadelta, Adamax, NAdam, RAdam (and SGD), and channel dropout.

The functional cases run through test_ops_cuda.py's harness (same data on both devices; outputs and the gradient of
every float input compared) and come from the CPU tests' own tables (test_ops_conv, test_ops_pool, test_nn_norm,
test_ops_nn): float32 with gradients everywhere, float64 on a subset, float16 forward where the CPU tests do float16.
Running statistics are returned by the case, so the harness compares them too. Modules are built with the same seed
on both devices and stepped alike: output, input gradients, every parameter gradient and every buffer after each step
(BatchNorm: training steps, eval, training again). Optimizers: the same gradients fed to CPU and CUDA parameters for
a few steps, parameters and every state entry compared (NAdam's mu_product lives on the host by design), and a
state_dict saved and loaded on the device. dropout1d/2d draw from the device's own stream (Philox, not the CPU's
PCG64), so they are checked by their statistics, not against the CPU. Skipped without CuPy and a GPU.
"""
import inspect

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import F, pos
from test_ops_cuda import Case, _params, run, _close, F16, F32, F64, DEVICE, DEVICE_TYPE, LOOSE32

import test_nn_norm as NR
import test_nn_transformer as TR
import test_ops_conv as CV
import test_ops_pool as PL
import test_optim_more as OM

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]


def _normal(shape, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale)


def _host(t):
    """A host copy: a CPU tensor's array is the tensor's own memory, which later steps update in place."""
    return np.asarray(t).copy()


# ------------------------------------------------------------------------------------------- convolutions
def _conv_cases():
    c = []
    for k, (shape, ks, d, p, s) in enumerate(CV.UNFOLD):
        fn = lambda x, ks=ks, d=d, p=p, s=s: F(x).unfold(x, ks, dilation=d, padding=p, stride=s)  # noqa: E731
        c.append(Case(f"unfold-{shape}-{ks}-{d}-{p}-{s}", fn, [shape]))
        if k < 4:
            c.append(Case(f"unfold-{shape}-{ks}-{d}-{p}-{s}", fn, [shape], F64))
    for k, (batch, ch, size, ks, d, p, s) in enumerate(CV.FOLD):
        sz = (size, size) if isinstance(size, int) else size
        kk = int(np.prod((ks, ks) if isinstance(ks, int) else ks))
        shape = batch + (ch * kk, int(np.prod(CV._n_blocks(sz, ks, d, p, s))))
        fn = lambda x, sz=size, ks=ks, d=d, p=p, s=s: F(x).fold(x, sz, ks, dilation=d, padding=p, stride=s)  # noqa
        c.append(Case(f"fold-{shape}-{size}-{ks}-{d}-{p}-{s}", fn, [shape]))
        if k < 4:
            c.append(Case(f"fold-{shape}-{size}-{ks}-{d}-{p}-{s}", fn, [shape], F64))
    for ks, d, p, s in [(2, 1, 0, 2), ((3, 2), 1, 1, 1), (3, 2, 2, 2), (1, 1, 0, 1)]:
        c.append(Case(f"fold-unfold-{ks}-{d}-{p}-{s}", lambda x, ks=ks, d=d, p=p, s=s: F(x).fold(
            F(x).unfold(x, ks, d, p, s), (6, 7), ks, d, p, s), [(2, 3, 6, 7)]))
    for name, table in (("conv2d", CV.CONV2D), ("conv1d", CV.CONV1D)):
        for k, (xs, ws, bias, s, p, d, g) in enumerate(table):
            key = f"{name}-{xs}-{ws}-{bias}-{s}-{p}-{d}-{g}"
            ins = [xs, ws, (ws[0],) if bias else None]
            fn = lambda x, w, b, n=name, s=s, p=p, d=d, g=g: getattr(F(x), n)(x, w, b, s, p, d, g)  # noqa: E731
            c.append(Case(key, fn, ins))
            if k % 2 == 0:
                c.append(Case(key, fn, ins, F64))
            if k % 4 == 1:  # the input needs no gradient: only im2col's forward and the weight's GEMM
                c.append(Case(f"{key}-no-input-grad", fn, ins, requires_grad=[False, True, True]))
    for nd in (1, 2):
        for seed in range(12):
            xs, ws, s, p, d, g = CV._random_conv(np.random.default_rng(100 * nd + seed), nd)
            fn = lambda x, w, b, n=f"conv{nd}d", s=s, p=p, d=d, g=g: getattr(F(x), n)(x, w, b, s, p, d, g)  # noqa
            c.append(Case(f"conv{nd}d-random{seed}", fn, [xs, ws, (ws[0],)], seed=seed))
            if seed < 3:
                c.append(Case(f"conv{nd}d-random{seed}", fn, [xs, ws, (ws[0],)], F64, seed=seed))
    for name, table in (("conv_transpose2d", CV.CONVT2D), ("conv_transpose1d", CV.CONVT1D)):
        for k, (xs, ws, bias, s, p, op, g, d) in enumerate(table):
            key = f"{name}-{xs}-{ws}-{bias}-{s}-{p}-{op}-{g}-{d}"
            ins = [xs, ws, (ws[1] * g,) if bias else None]
            fn = lambda x, w, b, n=name, s=s, p=p, op=op, g=g, d=d: getattr(F(x), n)(  # noqa: E731
                x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
            c.append(Case(key, fn, ins))
            if k % 2 == 0:
                c.append(Case(key, fn, ins, F64))
    return c


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", _params(_conv_cases()))
def test_conv(case):
    run(case)


# -------------------------------------------------------------------------------------------------- pools
def _pool_cases():
    c = []
    for name, table in (("max_pool2d", PL.MAX2D), ("max_pool1d", PL.MAX1D)):
        for k, (shape, kw) in enumerate(table):
            for idx in (False, True):
                fn = lambda x, n=name, kw=kw, i=idx: getattr(F(x), n)(x, **kw, return_indices=i)  # noqa: E731
                c.append(Case(f"{name}-{shape}-{kw}-{idx}", fn, [shape]))
                if idx and k % 2 == 0:
                    c.append(Case(f"{name}-{shape}-{kw}-{idx}", fn, [shape], F64))
    c.append(Case("max_pool2d-positional", lambda x: F(x).max_pool2d(x, 3, 2, 1, 1, True, True), [(2, 3, 8, 7)]))
    c.append(Case("max_pool1d-positional", lambda x: F(x).max_pool1d(x, 3, 2, 1, 2, True, True), [(2, 3, 12)]))
    ties = np.random.default_rng(0).integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)  # the first maximum wins
    for kw in (dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=2, stride=2, dilation=2, ceil_mode=True)):
        c.append(Case(f"max_pool2d-ties-{kw}", lambda t, kw=kw: F(t).max_pool2d(t, **kw, return_indices=True), [ties]))
    c.append(Case("adaptive_max_pool2d-ties", lambda t: F(t).adaptive_max_pool2d(t, (4, 5), True), [ties]))
    c.append(Case("max_pool1d-ties", lambda t: F(t).max_pool1d(t, 3, 1, 1, return_indices=True), [ties[0]]))
    c.append(Case("adaptive_max_pool1d-ties", lambda t: F(t).adaptive_max_pool1d(t, 5, True), [ties[0]], F64))
    c.append(Case("max_pool2d-zeros", lambda t: F(t).max_pool2d(t, 2, return_indices=True), [np.zeros((1, 2, 4, 4))]))
    nan, inf = np.nan, np.inf
    x = np.array([[[1.0, 3, 3, 2, nan, 5, nan, 1, -inf, -inf, -inf]]])
    for k, s, p in ((3, 1, 1), (2, 2, 0), (11, 1, 0), (3, 2, 1)):
        c.append(Case(f"max_pool1d-nan-inf-{k}-{s}-{p}", lambda t, k=k, s=s, p=p: F(t).max_pool1d(
            t, k, s, p, return_indices=True), [x]))
    c.append(Case("adaptive_max_pool1d-nan-inf", lambda t: F(t).adaptive_max_pool1d(t, 3, True), [x]))
    c.append(Case("max_pool2d-all-inf", lambda t: F(t).max_pool2d(t, 3, 1, 1, return_indices=True),
                  [np.full((1, 1, 3, 4), -inf)]))
    for dt in (np.int64, np.int32):
        xi = np.random.default_rng(1).integers(-9, 9, size=(2, 3, 7, 6)).astype(dt)
        c.append(Case(f"max_pool2d-{np.dtype(dt).name}", lambda t: F(t).max_pool2d(t, 3, 2, 1, return_indices=True),
                      [xi]))
        c.append(Case(f"max_pool2d-k2-{np.dtype(dt).name}", lambda t: F(t).max_pool2d(t, 2), [xi]))
        c.append(Case(f"max_pool1d-{np.dtype(dt).name}", lambda t: F(t).max_pool1d(t, 3, 2, 1, return_indices=True),
                      [xi[0]]))
    c.append(Case("max_pool2d", lambda x: F(x).max_pool2d(x, 3, 2, 1, return_indices=True), [(2, 3, 7, 8)], F16))
    for name, table in (("avg_pool2d", PL.AVG2D), ("avg_pool1d", PL.AVG1D)):
        for k, (shape, kw) in enumerate(table):
            for ceil in (False, True):
                for cip in (True, False):
                    fn = lambda x, n=name, kw=kw, ce=ceil, ci=cip: getattr(F(x), n)(  # noqa: E731
                        x, **kw, ceil_mode=ce, count_include_pad=ci)
                    c.append(Case(f"{name}-{shape}-{kw}-{ceil}-{cip}", fn, [shape]))
                    if ceil and not cip and k % 2 == 0:
                        c.append(Case(f"{name}-{shape}-{kw}-{ceil}-{cip}", fn, [shape], F64))
    for divisor in (1, 3, -2, 7):
        c.append(Case(f"avg_pool2d-divisor{divisor}", lambda x, d=divisor: F(x).avg_pool2d(x, 3, 2, 1, True, False, d),
                      [(2, 3, 7, 8)]))
        c.append(Case(f"avg_pool2d-divisor{divisor}-unbatched", lambda x, d=divisor: F(x).avg_pool2d(
            x, 2, divisor_override=d), [(3, 6, 5)], F64))
    xi = np.random.default_rng(2).integers(-20, 20, size=(2, 3, 7, 6)).astype(np.int64)  # C's truncating division
    c.append(Case("avg_pool2d-int64", lambda t: F(t).avg_pool2d(t, 3, 2, 1, True, False), [xi]))
    c.append(Case("avg_pool2d-int64-divisor", lambda t: F(t).avg_pool2d(t, 2, divisor_override=-3), [xi]))
    c.append(Case("avg_pool1d-int64", lambda t: F(t).avg_pool1d(t, 3, 2, 1, True), [xi[0]]))
    c.append(Case("avg_pool2d", lambda x: F(x).avg_pool2d(x, 3, 2, 1), [(2, 3, 7, 8)], F16))
    c.append(Case("adaptive_avg_pool2d", lambda x: F(x).adaptive_avg_pool2d(x, (3, 5)), [(2, 3, 7, 8)], F16))
    for name, table in (("adaptive_avg_pool2d", PL.ADAPTIVE2D), ("adaptive_avg_pool1d", PL.ADAPTIVE1D),
                        ("adaptive_max_pool2d", PL.ADAPTIVE2D), ("adaptive_max_pool1d", PL.ADAPTIVE1D)):
        for k, (shape, size) in enumerate(table):
            for idx in ((False, True) if "max" in name else (None,)):
                extra = () if idx is None else (idx,)
                fn = lambda x, n=name, s=size, e=extra: getattr(F(x), n)(x, s, *e)  # noqa: E731
                c.append(Case(f"{name}-{shape}-{size}-{idx}", fn, [shape]))
                if k % 3 == 0 and idx is not False:
                    c.append(Case(f"{name}-{shape}-{size}-{idx}", fn, [shape], F64))
    c.append(Case("adaptive_avg_pool2d-size0", lambda x: F(x).adaptive_avg_pool2d(x, (0, 3)), [(2, 3, 7, 8)],
                  grad=False))
    c.append(Case("adaptive_max_pool2d-size0", lambda x: F(x).adaptive_max_pool2d(x, (0, 3), True), [(2, 3, 7, 8)],
                  grad=False))
    return c


@pytest.mark.parametrize("case", _params(_pool_cases()))
def test_pool(case):
    run(case)


# ------------------------------------------------------------------------------------------ normalization
def _running_steps(op, momentum, steps=3, **kw):
    """op with running buffers, trained `steps` times on shifted copies of x; returns every output and the buffers,
    so the harness compares the buffers' final values (and device, dtype) too."""
    def fn(x, m, v):
        outs = [getattr(F(x), op)(x * (1 + s) + s, m, v, momentum=momentum, **kw) for s in range(steps)]
        return outs + [m, v]
    return fn


def _norm_cases():
    c = []
    for k, shape in enumerate(NR.BN_SHAPES):
        ch = shape[1]
        c.append(Case(f"batch_norm-train-affine-{shape}", lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True),
                      [shape, (ch,), (ch,)]))
        c.append(Case(f"batch_norm-train-eps-{shape}", lambda x, w, b: F(x).batch_norm(
            x, None, None, w, b, True, 0.1, 1e-3), [shape, (ch,), (ch,)], F64))
        c.append(Case(f"batch_norm-train-{shape}", lambda x: F(x).batch_norm(x, None, None, training=True), [shape]))
        c.append(Case(f"batch_norm-eval-{shape}", lambda x, m, v, w, b: F(x).batch_norm(x, m, v, w, b, False),
                      [shape, (ch,), pos(ch), (ch,), (ch,)], requires_grad=[True, False, False, True, True]))
        c.append(Case(f"batch_norm-eval-eps-{shape}", lambda x, m, v: F(x).batch_norm(x, m, v, eps=0.5),
                      [shape, (ch,), pos(ch)], F64 if k % 2 else F32, requires_grad=[True, False, False]))
        if shape[0] * int(np.prod(shape[2:])) > 1:
            for momentum in (0.1, 0.5, 1.0, 0.0):
                c.append(Case(f"batch_norm-running-{shape}-{momentum}", _running_steps("batch_norm", momentum,
                                                                                        training=True),
                              [shape, (ch,), pos(ch)], requires_grad=[True, False, False]))
            c.append(Case(f"batch_norm-running-{shape}", _running_steps("batch_norm", 0.3, training=True),
                          [shape, (ch,), pos(ch)], F64, requires_grad=[True, False, False]))
    c.append(Case("batch_norm-one-buffer", lambda x, m: [F(x).batch_norm(x, m, None, training=True), m],
                  [(4, 3), (3,)], requires_grad=[True, False]))
    c.append(Case("batch_norm-empty", lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True),
                  [(0, 3, 2), (3,), (3,)]))
    c.append(Case("batch_norm-empty-running", lambda x, m, v: [F(x).batch_norm(x, m, v, training=True), m, v],
                  [(0, 3), (3,), pos(3)], requires_grad=[True, False, False]))
    c.append(Case("batch_norm", lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True), [(6, 3, 5), (3,), (3,)],
                  F16))
    for k, shape in enumerate([(2, 3, 5), (2, 3, 4, 5), (1, 2, 3), (3, 1, 2, 2)]):
        ch = shape[1]
        dt = F64 if k % 2 else F32
        c.append(Case(f"instance_norm-{shape}", lambda x: F(x).instance_norm(x), [shape]))
        c.append(Case(f"instance_norm-affine-{shape}", lambda x, w, b: F(x).instance_norm(x, weight=w, bias=b,
                                                                                           eps=1e-3),
                      [shape, (ch,), (ch,)], dt))
        c.append(Case(f"instance_norm-running-stats-{shape}", lambda x, m, v, w, b: F(x).instance_norm(
            x, m, v, w, b, use_input_stats=False), [shape, (ch,), pos(ch), (ch,), (ch,)],
                      requires_grad=[True, False, False, True, True]))
        c.append(Case(f"instance_norm-running-{shape}", _running_steps("instance_norm", 0.3),
                      [shape, (ch,), pos(ch)], dt, requires_grad=[True, False, False]))
    for k, (shape, groups) in enumerate(NR.GROUPS):
        ch = shape[1]
        c.append(Case(f"group_norm-{shape}-{groups}", lambda x, w, b, g=groups: F(x).group_norm(x, g, w, b),
                      [shape, (ch,), (ch,)]))
        c.append(Case(f"group_norm-eps-{shape}-{groups}", lambda x, g=groups: F(x).group_norm(x, g, eps=0.1),
                      [shape]))
        c.append(Case(f"group_norm-weight-{shape}-{groups}", lambda x, w, g=groups: F(x).group_norm(x, g, w),
                      [shape, (ch,)], F64 if k % 2 else F32))
        if k % 2 == 0:
            c.append(Case(f"group_norm-{shape}-{groups}", lambda x, w, b, g=groups: F(x).group_norm(x, g, w, b),
                          [shape, (ch,), (ch,)], F64))
    for k, (shape, size) in enumerate([((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((2, 6, 3, 4), 1), ((2, 3, 4), 9),
                                       ((1, 4, 2, 2, 3), 4), ((0, 3, 4), 2)]):
        c.append(Case(f"local_response_norm-{shape}-{size}", lambda x, s=size: F(x).local_response_norm(x, s),
                      [shape]))
        c.append(Case(f"local_response_norm-args-{shape}-{size}", lambda x, s=size: F(x).local_response_norm(
            x, s, 0.1, 0.5, 2.0), [shape], F64 if k % 2 else F32))
    return c


@pytest.mark.parametrize("case", _params(_norm_cases()))
def test_norm(case):
    run(case)


# ------------------------------------------------------------------------ attention with fully masked rows
def _masked_attention_cases():
    m = np.ones((4, 5), bool)
    m[1] = False  # query 1 sees no key: output 0, zero gradients (torch's _safe_softmax), not NaN
    m[3, :2] = False
    sdpa = lambda q, k, v, mask: F(q).scaled_dot_product_attention(q, k, v, mask)  # noqa: E731
    c = []
    for kind, mask in (("bool", m), ("float", np.where(m, 0.0, -np.inf))):
        for dt in (F32, F64):
            c.append(Case(f"sdpa-masked-row-{kind}", sdpa, [(2, 4, 3), (2, 5, 3), (2, 5, 3), mask], dt,
                          requires_grad=[True, True, True, False]))
    every = np.zeros((2, 3, 4), bool)
    every[0, :, 1:] = True
    c.append(Case("sdpa-masked-batch", sdpa, [(2, 3, 2), (2, 4, 2), (2, 4, 2), every],
                  requires_grad=[True, True, True, False]))
    return c


@pytest.mark.parametrize("case", _params(_masked_attention_cases()))
def test_attention_masked_rows(case):
    run(case)


# ---------------------------------------------------------------------------------------------- nn modules
Fixed = TR.Fixed  # a mask: no gradient, bool stays bool, floats take the test dtype
TRAIN_EVAL = [True, True, True, False, True]  # BatchNorm & co.: three training steps, eval, training again


def _inputs(args, dtype, device, step):
    xs = []
    for a in args:
        if a is None:
            xs.append(None)
        elif isinstance(a, Fixed):
            xs.append(tg.tensor(a.a if a.a.dtype == np.bool_ else a.a.astype(dtype), device=device))
        else:
            xs.append(tg.tensor((np.asarray(a) * (1 + step) + step).astype(dtype), device=device, requires_grad=True))
    return xs


def _run_module(make, call, args, dtype, device, modes, randomize):
    """Per step: (outputs, input grads, parameter grads, buffers) as host arrays, after checking every tensor
    lives on ``device``."""
    on = tg.device(device).type
    tg.manual_seed(0)
    m = make(tg.nn).to(device, dtype)
    if randomize:  # norms start at weight 1, bias 0: make the affine parameters matter
        rng = np.random.default_rng(0)
        with tg.no_grad():
            for p in m.parameters():
                p.copy_(tg.tensor(rng.standard_normal(p.shape).astype(dtype), device=device))
    for n, t in list(m.named_parameters()) + list(m.named_buffers()):
        assert t.device.type == on, f"{n} on {t.device}"
    record = []
    for step, mode in enumerate(modes):
        m.train(mode)
        xs = _inputs(args, dtype, device, step)
        out = call(m, *xs)
        outs = list(out) if isinstance(out, tuple) else [out]
        terms = []
        for i, y in enumerate(outs):
            if y is None:
                continue
            assert y.device.type == on, f"step {step}: output {i} on {y.device}"
            if y.requires_grad:
                cot = np.random.default_rng(100 * step + i).standard_normal(y.shape).astype(y.dtype)
                terms.append((y * tg.tensor(cot, device=device)).sum())
        if terms and not any(np.isnan(np.asarray(y.detach())).any() for y in outs if y is not None):
            sum(terms[1:], terms[0]).backward()
        grads = [None if x is None or x.grad is None else x.grad for x in xs]
        pgrads = dict((n, p.grad) for n, p in m.named_parameters())
        bufs = dict((n, b) for n, b in m.named_buffers() if b is not None)
        for what, t in [("input grad", g) for g in grads] + list(pgrads.items()) + list(bufs.items()):
            assert t is None or t.device.type == on, f"step {step}: {what} on {t.device}"
        record.append(([None if y is None else _host(y.detach()) for y in outs],
                       [None if g is None else _host(g) for g in grads],
                       {n: None if g is None else _host(g) for n, g in pgrads.items()},
                       {n: _host(b) for n, b in bufs.items()}))
        m.zero_grad()
    return record


def check_module(make, call, args, dtype, modes=(True,), randomize=False):
    atol, rtol = (LOOSE32["atol"], LOOSE32["rtol"]) if dtype == F32 else (1e-9, 1e-9)
    want = _run_module(make, call, args, dtype, "cpu", modes, randomize)
    got = _run_module(make, call, args, dtype, DEVICE, modes, randomize)
    for step, ((o, g, pg, b), (wo, wg, wpg, wb)) in enumerate(zip(got, want)):
        assert [a is None for a in o] == [a is None for a in wo], f"step {step}: outputs None on one device only"
        for i, (a, w) in enumerate(zip(o, wo)):
            if w is not None:
                assert a.dtype == w.dtype, f"step {step}: output {i} dtype {a.dtype} != cpu {w.dtype}"
                _close(f"step {step}: output {i}", a, w, atol, rtol)
        for i, (a, w) in enumerate(zip(g, wg)):
            assert (a is None) == (w is None), f"step {step}: grad of input {i} on one device only"
            if w is not None:
                _close(f"step {step}: grad of input {i}", a, w, atol, rtol)
        assert list(pg) == list(wpg) and list(b) == list(wb)
        for n in wpg:
            assert (pg[n] is None) == (wpg[n] is None), f"step {step}: grad of {n} on one device only"
            if wpg[n] is not None:
                _close(f"step {step}: grad of {n}", pg[n], wpg[n], atol, rtol)
        for n in wb:
            assert b[n].dtype == wb[n].dtype, f"step {step}: buffer {n} dtype {b[n].dtype} != cpu {wb[n].dtype}"
            _close(f"step {step}: buffer {n}", b[n], wb[n], atol, rtol)


def _call1(m, x):
    return m(x)


def _module_cases():
    """(id, make(nn) -> Module, call(module, *inputs), inputs, modes, randomize)."""
    c = []
    for name, args, kw, xs in CV.MODULES:
        c.append((f"{name}-{args}-{kw}", lambda T, n=name, a=args, kw=kw: getattr(T, n)(*a, **kw), _call1,
                  [_normal(xs)], (True,), False))
    c += [("ConvTranspose2d-output_size", lambda T: T.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
           lambda m, x: m(x, output_size=[8, 7]), [_normal((2, 3, 4, 4))], (True,), False),
          ("ConvTranspose1d-output_size", lambda T: T.ConvTranspose1d(3, 2, 3, stride=3),
           lambda m, x: m(x, output_size=(2, 2, 13)), [_normal((2, 3, 4))], (True,), False),
          ("Unfold", lambda T: T.Unfold(3, padding=1, stride=2), _call1, [_normal((2, 3, 6, 6))], (True,), False),
          ("Unfold-dilation", lambda T: T.Unfold((2, 3), dilation=2), _call1, [_normal((2, 3, 6, 6))], (True,), False),
          ("Fold", lambda T: T.Fold((6, 6), 2, stride=2), _call1, [_normal((2, 12, 9))], (True,), False),
          ("conv-pool-norm-net", lambda T: T.Sequential(T.Conv2d(1, 4, 3, padding=1), T.BatchNorm2d(4), T.ReLU(),
                                                        T.MaxPool2d(2), T.Conv2d(4, 6, 3), T.GroupNorm(2, 6),
                                                        T.AdaptiveAvgPool2d(1), T.Flatten(), T.Linear(6, 3)),
           _call1, [_normal((4, 1, 10, 10))], TRAIN_EVAL, False)]
    for k, (make, shape) in enumerate(PL.MODULES):
        c.append((f"pool{k}-{shape}", make, _call1, [_normal(shape, k)], (True,), False))
    for k, (make, shape) in enumerate(NR.BN_MODULES):
        c.append((f"norm{k}-{shape}", make, _call1, [_normal(shape, k)], TRAIN_EVAL, True))
    E, H, L, S, N = TR.E, TR.H, TR.L, TR.S, TR.N
    for mask, (am, kpm) in TR.MASKS.items():
        for need in (True, False):
            for bf in (False, True):
                is_causal = mask.startswith("causal")
                c.append((f"mha-{mask}-need{need}-bf{bf}", lambda T, bf=bf: T.MultiheadAttention(E, H, batch_first=bf),
                          lambda m, x, am, kpm, nw=need, ic=is_causal: m(x, x, x, key_padding_mask=kpm, attn_mask=am,
                                                                         need_weights=nw, is_causal=ic),
                          [TR.seq_batch(L, N, E, bf), None if am is None else Fixed(am),
                           None if kpm is None else Fixed(kpm)], (True,), False))
    for kind in ("kv-shared", "distinct", "kdim-vdim"):
        for need, average in ((True, True), (True, False), (False, True)):
            kd, vd = (5, 7) if kind == "kdim-vdim" else (E, E)
            make = lambda T, kd=kd, vd=vd: T.MultiheadAttention(E, H, kdim=kd, vdim=vd)  # noqa: E731
            q, k, v = TR.seq_batch(L, N, E, False), TR.seq_batch(S, N, kd, False, 1), TR.seq_batch(S, N, vd, False, 2)
            masks = [Fixed(TR.bool_mask(L, S)), Fixed(TR.bool_mask(N, S, seed=3))]
            if kind == "kv-shared":
                call = lambda m, q, k, am, kpm, nw=need, a=average: m(q, k, k, kpm, nw, am, a)  # noqa: E731
                c.append((f"mha-cross-{kind}-{need}-{average}", make, call, [q, k] + masks, (True,), False))
            else:
                call = lambda m, q, k, v, am, kpm, nw=need, a=average: m(q, k, v, kpm, nw, am, a)  # noqa: E731
                c.append((f"mha-cross-{kind}-{need}-{average}", make, call, [q, k, v] + masks, (True,), False))
    for bias_kv, zero_attn, bias in [(True, False, True), (False, True, True), (True, True, False)]:
        for need in (True, False):
            c.append((f"mha-options-{bias_kv}-{zero_attn}-{bias}-{need}",
                      lambda T, b=bias, kv=bias_kv, z=zero_attn: T.MultiheadAttention(E, H, bias=b, add_bias_kv=kv,
                                                                                      add_zero_attn=z),
                      lambda m, x, mem, am, kpm, nw=need: m(x, mem, mem, key_padding_mask=kpm, attn_mask=am,
                                                             need_weights=nw, average_attn_weights=False),
                      [TR.rand(L, N, E), TR.rand(S, N, E, seed=1), Fixed(TR.float_mask(N * H, L, S)),
                       Fixed(TR.bool_mask(N, S, seed=4))], (True,), False))
    for need in (True, False):
        c.append((f"mha-unbatched-{need}", lambda T: T.MultiheadAttention(E, H, batch_first=True),
                  lambda m, q, kv, am, kpm, nw=need: m(q, kv, kv, kpm, nw, am),
                  [TR.rand(L, E), TR.rand(S, E, seed=1), Fixed(TR.bool_mask(H, L, S)), Fixed(TR.bool_mask(S, seed=9))],
                  (True,), False))
        kpm = TR.bool_mask(N, L)
        kpm[1] = True  # batch entry 1 attends to nothing: NaN with weights, 0 without (then gradients compared)
        c.append((f"mha-fully-masked-{need}", lambda T: T.MultiheadAttention(E, H),
                  lambda m, x, kpm, nw=need: m(x, x, x, key_padding_mask=kpm, need_weights=nw),
                  [TR.rand(L, N, E), Fixed(kpm)], (True,), False))
        c.append((f"mha-dropout1-{need}", lambda T: T.MultiheadAttention(E, H, dropout=1.0),  # every weight dropped
                  lambda m, x, nw=need: m(x, x, x, need_weights=nw), [TR.rand(L, N, E)], (True,), False))
    for act in TR.ACTS:
        for nf, bf in ((False, False), (True, True)):
            c.append((f"encoder-layer-{act}-nf{nf}-bf{bf}", lambda T, a=act, nf=nf, bf=bf: TR.enc_layer(T, bf, nf, a),
                      lambda m, x, am, kpm: m(x, am, kpm),
                      [TR.seq_batch(L, N, TR.D_MODEL, bf), Fixed(TR.bool_mask(L, L)),
                       Fixed(TR.bool_mask(N, L, seed=3))], (True,), False))
    for act in ("relu", "gelu", "GELU-tanh"):
        for nf, bf in ((False, True), (True, False)):
            c.append((f"decoder-layer-{act}-nf{nf}-bf{bf}", lambda T, a=act, nf=nf, bf=bf: TR.dec_layer(T, bf, nf, a),
                      lambda m, *a: m(*a),
                      [TR.seq_batch(L, N, TR.D_MODEL, bf), TR.seq_batch(S, N, TR.D_MODEL, bf, seed=1),
                       Fixed(TR.causal(L)), Fixed(TR.bool_mask(L, S)), Fixed(TR.bool_mask(N, L, seed=4)),
                       Fixed(TR.bool_mask(N, S, seed=5))], (True,), False))
    for mask, (am, kpm, hint) in TR.SRC_MASKS.items():
        c.append((f"encoder-stack-{mask}", lambda T, f=mask.endswith("float"): T.TransformerEncoder(
            TR.enc_layer(T, False, f), 2, T.LayerNorm(TR.D_MODEL)),
                  lambda m, x, am, kpm, h=hint: m(x, mask=am, src_key_padding_mask=kpm, is_causal=h),
                  [TR.seq_batch(L, N, TR.D_MODEL, False), None if am is None else Fixed(am),
                   None if kpm is None else Fixed(kpm)], (True,), False))
    c += [("decoder-stack", lambda T: T.TransformerDecoder(TR.dec_layer(T, True, False), 2, T.LayerNorm(TR.D_MODEL)),
           lambda m, t, mem, tm_: m(t, mem, tm_, tgt_is_causal=True),
           [TR.seq_batch(L, N, TR.D_MODEL, True), TR.seq_batch(S, N, TR.D_MODEL, True, seed=1),
            Fixed(TR.causal(L))], (True,), False),
          ("transformer", lambda T: T.Transformer(TR.D_MODEL, TR.NHEAD, 2, 2, TR.FF, 0.0, "gelu"),
           lambda m, s, t, tm_, sk: m(s, t, tgt_mask=tm_, src_key_padding_mask=sk, memory_key_padding_mask=sk),
           [TR.seq_batch(S, N, TR.D_MODEL, False), TR.seq_batch(L, N, TR.D_MODEL, False, seed=1),
            Fixed(np.where(TR.causal(L), -np.inf, 0.0)), Fixed(TR.bool_mask(N, S, seed=6))], (True,), False),
          ("encoder-layer-dropout1", lambda T: TR.enc_layer(T, False, False, dropout=1.0), _call1,
           [TR.rand(L, N, TR.D_MODEL)], (True,), False),
          ("encoder-layer-unbatched", lambda T: TR.enc_layer(T, True, False),
           lambda m, x, kpm: m(x, src_key_padding_mask=kpm), [TR.rand(L, TR.D_MODEL), Fixed(TR.bool_mask(L))],
           (True,), False)]
    return c


MODULES = _module_cases()


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.filterwarnings("ignore:Support for mismatched")  # mixed mask types: torch's deprecation warning
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # softmax over a row of -inf: NaN, as torch's
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name,make,call,args,modes,randomize", MODULES, ids=[m[0] for m in MODULES])
def test_module_on_device(name, make, call, args, modes, randomize, dtype):
    """The same module (same seed: the same weights) on the CPU and moved to CUDA, stepped alike."""
    check_module(make, call, args, dtype, modes, randomize)


# ---------------------------------------------------------------------------------------------- optimizers
def _state(opt, p):
    return opt.state.get(p, {})


def _run_optimizer(name, kw, device, dtype, steps, resume_at=None):
    """OM's three parameter groups (one parameter sometimes without a gradient) on ``device``, fed the same
    gradients as test_optim_more; per step, the parameters and every state entry as host values. With resume_at,
    the optimizer's state_dict is saved there and loaded into a fresh optimizer over fresh parameters."""
    on = tg.device(device).type
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in OM.SHAPES]
    ps = [tg.nn.Parameter(tg.tensor(a, device=device)) for a in arrays]
    lr = kw.get("lr", inspect.signature(getattr(tg.optim, name)).parameters["lr"].default)
    opt = getattr(tg.optim, name)(OM.groups(name, ps, lr), **kw)
    record = []
    for step in range(steps):
        if step == resume_at:
            sd = opt.state_dict()
            ps = [tg.nn.Parameter(tg.tensor(np.asarray(p.detach()), device=device)) for p in ps]
            opt = getattr(tg.optim, name)(OM.groups(name, ps, 123.0), **dict(kw, lr=123.0))
            opt.load_state_dict(sd)
        g_rng = np.random.default_rng(step)
        for i, p in enumerate(ps):
            g = g_rng.standard_normal(p.shape).astype(dtype)
            p.grad = tg.tensor(g, device=device) if OM.has_grad(i, step) else None
        opt.step()
        snap = []
        for i, p in enumerate(ps):
            assert p.device.type == on and p.dtype == dtype and p.grad_fn is None, f"param {i}"
            st = {}
            for k, v in _state(opt, p).items():
                if isinstance(v, tg.Tensor):
                    # NAdam keeps its scalar mu_product on the host (read as a float every step), as torch does
                    assert v.device.type == (("cpu" if k == "mu_product" else on)), f"{k} of param {i} on {v.device}"
                    v = _host(v)
                st[k] = v
            snap.append((_host(p.detach()), st))
        record.append(snap)
    return record


def _compare_optimizer_runs(got, want, tol):
    for step, (g, w) in enumerate(zip(got, want)):
        for i, ((p, st), (wp, wst)) in enumerate(zip(g, w)):
            _close(f"step {step}: param {i}", p, wp, tol, tol)
            assert list(st) == list(wst), f"step {step}: param {i} state keys {list(st)} vs cpu {list(wst)}"
            for k, wv in wst.items():
                if isinstance(wv, np.ndarray):
                    assert st[k].dtype == wv.dtype, (k, st[k].dtype, wv.dtype)
                    _close(f"step {step}: {k} of param {i}", st[k], wv, tol, tol)
                else:
                    assert st[k] == wv, (step, i, k, st[k], wv)


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("name,kw", OM.CONFIGS, ids=OM.IDS)
def test_optimizer_on_device(name, kw, dtype):
    """Elementwise updates in the same order on both devices: equal to rounding after every step."""
    tol = 1e-12 if dtype == F64 else 1e-6
    steps = 8
    _compare_optimizer_runs(_run_optimizer(name, kw, DEVICE, dtype, steps),
                            _run_optimizer(name, kw, "cpu", dtype, steps), tol)


@pytest.mark.parametrize("name,kw", OM.ROUNDTRIP, ids=[n for n, _ in OM.ROUNDTRIP])
def test_optimizer_state_dict_resume_on_device(name, kw):
    """state_dict on the device, loaded into a fresh optimizer over fresh device parameters (the state stays on
    their device), continues as the CPU run that saves and loads at the same step."""
    _compare_optimizer_runs(_run_optimizer(name, kw, DEVICE, F64, 8, resume_at=4),
                            _run_optimizer(name, kw, "cpu", F64, 8, resume_at=4), 1e-12)


# ------------------------------------------------------------------------------------------ channel dropout
@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("op,shape", [("dropout1d", (64, 96, 5)), ("dropout1d", (2048, 5)),
                                      ("dropout2d", (64, 96, 3, 4))], ids=str)
def test_channel_dropout_statistics_on_device(op, shape, dtype, p):
    """Whole channels are kept or zeroed; the zeroed fraction is p within 4.5 sigma; kept channels are scaled by
    1/(1-p); the gradient is the same mask. (The device's stream is not the CPU's, so no CPU comparison.)"""
    x_np = np.random.default_rng(0).uniform(0.5, 1.5, shape).astype(dtype)
    x = tg.tensor(x_np, device=DEVICE, requires_grad=True)
    y = getattr(tg.nn.functional, op)(x, p)
    assert y.device.type == DEVICE_TYPE and y.dtype == dtype and y.shape == x.shape
    out = np.asarray(y.detach())
    chans = shape[:1] if len(shape) == 2 else shape[:2]
    kept = (out != 0).reshape(chans + (-1,))
    assert (kept.all(-1) | ~kept.any(-1)).all(), "a channel was partly dropped"
    n = kept.shape[0] * (kept.shape[1] if kept.ndim == 3 else 1)
    dropped = 1.0 - kept.all(-1).mean()
    assert abs(dropped - p) < 4.5 * np.sqrt(p * (1 - p) / n), (dropped, p, n)
    keep = out != 0
    np.testing.assert_allclose(out[keep], x_np[keep] / (1 - p), rtol=1e-6 if dtype == F32 else 1e-12)
    y.backward(tg.full(shape, 2.0, dtype=dtype, device=DEVICE))
    assert x.grad.device.type == DEVICE_TYPE and x.grad.dtype == dtype
    np.testing.assert_allclose(np.asarray(x.grad), keep * (2 / (1 - p)), rtol=1e-6 if dtype == F32 else 1e-12)


def test_channel_dropout_seeding_modules_and_inplace_on_device():
    fn = tg.nn.functional
    x = tg.ones(8, 16, 3, 3, device=DEVICE)
    tg.manual_seed(5)
    a = np.asarray(fn.dropout2d(x))
    tg.manual_seed(5)
    b = np.asarray(fn.dropout2d(x))
    c = np.asarray(fn.dropout2d(x))
    assert (a == b).all() and not (b == c).all()  # reseeding replays the mask; the next draw is a new one
    assert fn.dropout2d(x, 0.3, training=False) is x and fn.dropout2d(x, 0.0) is x
    assert not np.asarray(fn.dropout2d(x, 1.0)).any()
    m = tg.nn.Dropout2d(0.5)
    y = m(x)
    assert y.device.type == DEVICE_TYPE and set(np.unique(np.asarray(y))) <= {0.0, 2.0}
    m.eval()
    assert m(x) is x
    z = tg.ones(4, 6, 3, device=DEVICE)
    assert fn.dropout1d(z, 0.5, inplace=True) is z and z.device.type == DEVICE_TYPE
    assert set(np.unique(np.asarray(z))) <= {0.0, 2.0}
    u = tg.ones(6, 3, device=DEVICE)
    tg.nn.Dropout1d(0.5, inplace=True)(u)
    assert u.device.type == DEVICE_TYPE and set(np.unique(np.asarray(u))) <= {0.0, 2.0}
