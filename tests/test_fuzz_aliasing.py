"""Differential fuzzing of views and in-place writes against PyTorch: hypothesis draws a short program over a
(3, 4, 2) float64 base (views of views: slices with steps, select, narrow, chunk/split/unbind pieces, transpose, permute,
movedim, mT, view/reshape/flatten, squeeze/unsqueeze, expand, diagonal; in-place writes through any live tensor: add_/mul_/copy_/fill_/
zero_/clamp_/setitem with basic and advanced indices, and out-of-place results joining the pool), runs it in torch
and tensorgrad, and compares every live tensor after every step: shape, strides where torch's and NumPy's agree
on contiguity, and values. A write through one alias must show in every other alias of that memory, and a copy
must not: silent aliasing mistakes are the wrong results no error message reveals. Either both libraries raise
at the same step (the rest of that program is skipped) or neither does.

No gradients here: tests/test_inplace_grad.py covers in-place ops under autograd (where tensorgrad refuses some
aliasing torch rewrites)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tensorgrad as tg
from tensorgrad.tensor import _dense
from test_fuzz_torch import EXAMPLES, SETTINGS

SETTINGS_A = settings(SETTINGS, max_examples=max(EXAMPLES // 2, 20))


def _view_step(draw, t_shape):
    """(name, args) of a view op valid for shape t_shape, or None."""
    nd = len(t_shape)
    opts = ["slice", "unsqueeze", "reshape_flat", "expand", "squeeze", "flatten"]
    if nd >= 1:
        opts += ["select", "narrow", "chunk", "unbind", "split"]
    if nd >= 2:
        opts += ["transpose", "permute", "diagonal", "view_merge", "movedim", "mT"]
    name = draw(st.sampled_from(opts))
    if name in ("slice", "select", "narrow") and nd == 0:
        return None
    d = draw(st.integers(0, max(nd - 1, 0)))
    if name == "slice":
        n = t_shape[d]
        start = draw(st.integers(0, n))
        stop = draw(st.integers(start, n))
        step = draw(st.integers(1, 3))
        return name, (d, start, stop, step)
    if name == "select":
        if t_shape[d] == 0:
            return None
        return name, (d, draw(st.integers(-t_shape[d], t_shape[d] - 1)))
    if name == "narrow":
        start = draw(st.integers(0, t_shape[d]))
        return name, (d, start, draw(st.integers(0, t_shape[d] - start)))
    if name == "unsqueeze":
        return name, (draw(st.integers(-nd - 1, nd)),)
    if name == "transpose":
        return name, (d, draw(st.integers(0, nd - 1)))
    if name == "permute":
        return name, (tuple(draw(st.permutations(range(nd)))),)
    if name == "diagonal":
        d2 = draw(st.integers(0, nd - 1))
        return (name, (draw(st.integers(-2, 2)), d, d2)) if d2 != d else None
    if name == "view_merge":
        return (name, (d,)) if d + 1 < nd else None
    if name in ("chunk", "split"):
        return name, (d, draw(st.integers(1, 3)), draw(st.integers(-1, 0)))
    if name == "unbind":
        return (name, (d, draw(st.integers(0, t_shape[d] - 1)))) if t_shape[d] else None
    if name == "movedim":
        return name, (d, draw(st.integers(0, nd - 1)))
    if name == "expand":  # a size-1 dim in front, expanded to 2: a write through it must raise in both
        return name, ()
    return name, ()


def _apply_view(t, name, args):
    if name == "slice":
        d, a, b, s = args
        return t[(slice(None),) * d + (slice(a, b, s),)]
    if name == "select":
        d, i = args
        return t.select(d, i)
    if name == "narrow":
        return t.narrow(*args)
    if name == "unsqueeze":
        return t.unsqueeze(*args)
    if name == "transpose":
        return t.transpose(*args)
    if name == "permute":
        return t.permute(*args)
    if name == "diagonal":
        off, d1, d2 = args
        return t.diagonal(off, d1, d2)
    if name == "view_merge":
        d, = args
        s = tuple(t.shape)
        return t.view(s[:d] + (s[d] * s[d + 1],) + s[d + 2:])  # raises where the strides cannot merge, in both
    if name == "chunk":
        d, k, which = args
        return t.chunk(k, d)[which]
    if name == "split":
        d, k, which = args
        return t.split(k, d)[which]
    if name == "unbind":
        d, i = args
        return t.unbind(d)[i]
    if name == "movedim":
        return t.movedim(*args)
    if name == "mT":
        return t.mT
    if name == "expand":
        return t.unsqueeze(0).expand(2, *t.shape)
    if name == "squeeze":
        return t.squeeze()
    if name == "flatten":
        return t.flatten()
    if name == "reshape_flat":
        return t.reshape(-1)  # a view where possible, a copy otherwise: writes must follow the same choice
    raise AssertionError(name)


@st.composite
def programs(draw):
    steps = []
    shapes = [(3, 4, 2)]
    # Whether each pool entry is the base or a chain of views of it: contiguous(), reshape, flatten and view are
    # drawn only on those, since whether they return a view, a copy or an error depends on the input's strides:
    # a view's must match torch's, while the memory layout of other results (a sum's) is each library's own choice.
    pure = [True]
    for _ in range(draw(st.integers(1, 7))):
        src = draw(st.integers(0, len(shapes) - 1))
        kind = draw(st.sampled_from(["view", "view", "write", "write", "out"]))
        if kind == "view":
            v = _view_step(draw, shapes[src])
            if v is None or (v[0] in ("reshape_flat", "flatten", "view_merge") and not pure[src]):
                continue  # (reshape copies or views, and view raises or not, by the input's layout: see pure)
            # the new tensor's shape, worked out on a NumPy stand-in (a failing view is recorded as such)
            try:
                shape = tuple(_apply_view(torch.empty(shapes[src]), *v).shape)
            except Exception:  # noqa: BLE001 - both libraries must refuse it too
                shape = None
            steps.append(("view", src, v))
            if shape is None:
                break
            shapes.append(shape)
            pure.append(pure[src])
        elif kind == "write":
            op = draw(st.sampled_from(["add_", "mul_", "copy_", "fill_", "zero_", "clamp_", "setitem_basic",
                                       "setitem_index", "setitem_mask", "iadd", "add_t", "copy_t", "setitem_t"]))
            val = draw(st.sampled_from([0.5, -2.0, 3.0]))
            sub = draw(st.integers(0, len(shapes) - 1))  # the other operand (broadcast into the target where needed)
            idx = draw(st.integers(0, 2))
            steps.append(("write", src, (op, val, sub, idx)))
        else:
            how = draw(st.sampled_from(["mul", "contiguous", "clone", "expand_sum"]))
            if how == "contiguous" and not pure[src]:
                continue
            steps.append(("out", src, how))
            shapes.append(shapes[src])
            pure.append(False)
    return steps


def _write(lib, t, other, op, val, idx):
    if op == "add_":
        t.add_(val)
    elif op == "mul_":
        t.mul_(val)
    elif op == "copy_":
        t.copy_(other.sum() * 0 + val if tuple(other.shape) != tuple(t.shape) else other * val)
    elif op == "fill_":
        t.fill_(val)
    elif op == "zero_":
        t.zero_()
    elif op == "clamp_":
        t.clamp_(-1.0, val)
    elif op == "iadd":
        t += val
    elif op == "add_t":  # another live tensor, maybe a view of the same memory (a partial overlap raises in torch)
        t.add_(other)
    elif op == "copy_t":
        t.copy_(other)
    elif op == "setitem_t":
        t[...] = other
    elif t.ndim == 0:
        t.fill_(val)
    elif op == "setitem_basic":
        t[idx % max(t.shape[0], 1):] = val
    elif op == "setitem_index":
        if t.shape[0]:
            t[lib.tensor(np.array([0, t.shape[0] - 1, 0]))] = val
    elif op == "setitem_mask":
        t[t > 0.3] = val


def _order_dependent(t, other):
    """A write reading memory it also writes, in a layout torch's overlap check calls too hard (non-dense): torch's
    result then depends on its kernel's loop order, tensorgrad's reads the operand first. Not compared."""
    a, b = (np.asarray((x.detach().view(torch.int16) if x.dtype == torch.bfloat16 else x.detach()).numpy()
                       if isinstance(x, torch.Tensor) else x.array) for x in (t, other))
    return np.shares_memory(a, b) and not (_dense(a) and _dense(b))


def _run(lib, steps, dtype="float64", grad=False):
    base = lib.tensor(np.arange(24, dtype=np.float64).reshape(3, 4, 2) / 7 - 1).to(getattr(lib, dtype))
    if grad:  # the program runs on a non-leaf, and the leaf's gradient of a weighted sum of the pool is compared
        leaf = base.requires_grad_(True)
        base = leaf * 1.0
    pool = [base]
    states = []
    for kind, src, arg in steps:
        try:
            if kind == "view":
                pool.append(_apply_view(pool[src], *arg))
            elif kind == "write":
                op, val, sub, idx = arg
                if op in ("add_t", "copy_t", "setitem_t") and _order_dependent(pool[src], pool[sub]):
                    states.append(("order-dependent",))
                    return states
                _write(lib, pool[src], pool[sub], op, val, idx)
            else:
                t = pool[src]
                pool.append({"mul": lambda: t * 2.0, "contiguous": t.contiguous, "clone": t.clone,
                             "expand_sum": lambda: t.unsqueeze(0).expand(2, *t.shape).sum(0)}[arg]())
        except Exception as e:  # noqa: BLE001 - the outcome kind is compared
            states.append(("raises", type(e).__name__, str(e)))
            return states
        states.append([np.array(p.detach().double().numpy() if lib is torch else np.asarray(p.detach().double()))
                       for p in pool])
    if grad:
        try:
            loss = sum((p * lib.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)))).sum()
                       for i, p in enumerate(pool) if p.requires_grad)
            loss.backward()
        except Exception as e:  # noqa: BLE001 - e.g. a saved value written in place: both must refuse
            states.append(("raises", type(e).__name__, str(e)))
            return states
        states.append(("grad", np.array(leaf.grad.numpy() if lib is torch else np.asarray(leaf.grad))))
    return states


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@given(steps=programs())
@SETTINGS_A
def test_views_and_inplace_writes_match_torch(steps, dtype):
    _compare(steps, _run(tg, steps, dtype), _run(torch, steps, dtype))


# tensorgrad's refusals under autograd: an in-place write on memory shared other than through recorded views (the
# views are rewritten as torch does, ops/view_history.py), and an advanced-index write into an expanded view
REFUSED = ("is also seen elsewhere", "through an advanced index into an expanded view")
# and torch's own refusals, where tensorgrad goes on: a chunk/split/unbind piece may not be written in place (nor used
# once its base was); and at backward, after fill_/zero_ of an expanded view, torch's CopySlices writes the gradient
# through that view and refuses (tensorgrad's gradient there is checked by test_view_inplace.py)
TORCH_ONLY = "This view is the output of a function that returns multiple views"
TORCH_ONLY_AT_BACKWARD = "more than one element of the written-to tensor refers to a single memory location"


@given(steps=programs())
@SETTINGS_A
def test_views_and_inplace_writes_under_autograd_match_torch(steps):
    """The same programs on a non-leaf that requires grad: values after each step, then the leaf's gradient."""
    ours = _run(tg, steps, grad=True)
    if ours and ours[-1][0] == "raises" and any(r in ours[-1][2] for r in REFUSED):
        return
    theirs = _run(torch, steps, grad=True)
    if theirs and theirs[-1][0] == "raises" and (
            TORCH_ONLY in theirs[-1][2] or (len(theirs) > len(steps) and TORCH_ONLY_AT_BACKWARD in theirs[-1][2])):
        return
    _compare(steps, ours, theirs)


def _compare(steps, ours, theirs):
    for k, (a, b) in enumerate(zip(theirs, ours)):
        step = steps[k] if k < len(steps) else "backward"
        if a == ("order-dependent",) == b:
            return
        if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] == "grad":
            np.testing.assert_allclose(b[1], a[1], rtol=1e-10, atol=1e-12, err_msg=f"leaf gradient\n  program: {steps}")
            continue
        if isinstance(a, tuple) or isinstance(b, tuple):
            assert isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0], \
                f"step {k} {step}: torch {a[:2] if isinstance(a, tuple) else 'ok'}, tensorgrad " \
                f"{b[:2] if isinstance(b, tuple) else 'ok'}\n  program: {steps}"
            return
        for i, (x, y) in enumerate(zip(a, b)):
            assert x.shape == y.shape, f"step {k} {step}: tensor {i} shape torch {x.shape} tensorgrad {y.shape}" \
                                       f"\n  program: {steps}"
            assert np.array_equal(x, y), f"step {k} {step}: tensor {i} values differ\n  torch {x.tolist()}\n  " \
                                         f"tensorgrad {y.tolist()}\n  program: {steps}"
