"""torch's out= argument on the top-level functions (tensorgrad/out_arg.py), against torch: the result written into
out and out returned, resizing, casting, (values, indices) pairs, and the refusals (autograd, a dtype out cannot
hold)."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import out_arg

A = np.array([[0.5, -1.5, 2.0], [3.0, 0.25, -0.75]])
B = np.array([[1.0, 2.0, -0.5], [0.5, -1.0, 4.0]])

CASES = {
    "add": lambda m, a, b: (a, b), "mul": lambda m, a, b: (a, b), "exp": lambda m, a, b: (a,),
    "clamp": lambda m, a, b: (a, -1.0, 1.0), "sum": lambda m, a, b: (a, 1), "cumsum": lambda m, a, b: (a, 0),
    "matmul": lambda m, a, b: (a, b.T), "cat": lambda m, a, b: ([a, b], 0), "stack": lambda m, a, b: ([a, b],),
    "where": lambda m, a, b: (a > 0, a, b), "gather": lambda m, a, b: (a, 1, m.tensor([[0, 0], [2, 1]])),
    "arange": lambda m, a, b: (5,), "linspace": lambda m, a, b: (0.0, 1.0, 4), "tril": lambda m, a, b: (a,),
    "addmm": lambda m, a, b: (a[:, :2], a, b.T), "index_select": lambda m, a, b: (a, 1, m.tensor([2, 0])),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("out_shape", ["same", "empty", "other"])
def test_out_matches_torch(name, out_shape):
    res = []
    for m in (tg, torch):
        args = CASES[name](m, m.tensor(A), m.tensor(B))
        want = getattr(m, name)(*args)
        shape = {"same": tuple(want.shape), "empty": (0,), "other": (7,)}[out_shape]
        out = m.zeros(shape, dtype=want.dtype)
        got = getattr(m, name)(*args, out=out)
        assert got is out and tuple(out.shape) == tuple(want.shape)
        res.append(np.asarray(out.numpy() if m is torch else out.array))
    np.testing.assert_allclose(res[0], res[1], rtol=1e-6, atol=1e-7)  # (linspace: last-bit differences)


def test_pairs_cast_and_refusals():
    for m in (tg, torch):
        v, i = m.zeros(2, dtype=m.float64), m.zeros(2, dtype=m.int64)
        r = m.max(m.tensor(A), 1, out=(v, i))
        assert r[0] is v and r[1] is i and v.tolist() == [2.0, 3.0] and i.tolist() == [2, 0]
        wide = m.zeros(2, 3, dtype=m.float64)
        m.exp(m.tensor(A, dtype=m.float32), out=wide)  # float32 into float64: cast, as torch
        np.testing.assert_allclose(np.asarray(wide.tolist()), np.exp(A.astype(np.float32)), rtol=1e-6)
        with pytest.raises(RuntimeError, match="(?i)expected out tensor to have dtype"):
            m.mm(m.tensor(A), m.tensor(B.T), out=m.zeros(2, 2, dtype=m.float32))
        with pytest.raises(RuntimeError, match="can't be cast"):
            m.exp(m.tensor(A), out=m.zeros(2, 3, dtype=m.int64))
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            m.exp(m.tensor(A, requires_grad=True), out=m.zeros(2, 3, dtype=m.float64))
        with m.no_grad():
            m.exp(m.tensor(A, requires_grad=True), out=m.zeros(2, 3, dtype=m.float64))


def test_every_name_is_wrapped():
    for n in out_arg.NAMES:
        if hasattr(tg, n):
            assert getattr(tg, n).__wrapped__ is not None, n
