"""tensorgrad.testing.assert_close against torch.testing.assert_close: the same pass/fail decision on random pairs
(default tolerances per dtype, explicit ones, NaN handling), and the same first line of every failure message."""
import numpy as np
import pytest
import torch

import tensorgrad as tg


def _outcome(m, a, e, **kw):
    try:
        m.testing.assert_close(a, e, **kw)
        return "ok", ""
    except (AssertionError, ValueError) as err:
        return type(err).__name__, str(err).splitlines()[0]


def _both(fn, **kw):
    ours, theirs = _outcome(tg, *fn(tg), **kw), _outcome(torch, *fn(torch), **kw)
    assert ours == theirs, (ours, theirs)
    return ours


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64"])
def test_decisions_and_messages_match_torch(dtype):
    rng = np.random.default_rng(0)
    for k in range(60):
        x = rng.standard_normal((3, 4))
        y = x + rng.choice([0.0, 1e-9, 1e-6, 1e-4, 1e-2], size=x.shape) * rng.standard_normal(x.shape)
        if k % 7 == 0 and dtype != "int64":
            x[0, 0] = y[0, 0] = np.nan
        if dtype == "int64":
            x, y = np.round(x * 3), np.round(y * 3)
        kw = {} if k % 3 else dict(rtol=1e-3, atol=1e-3)
        _both(lambda m: (m.tensor(x).to(getattr(m, dtype)), m.tensor(y).to(getattr(m, dtype))),
              equal_nan=bool(k % 2), **kw)


def test_structure_shapes_dtypes_scalars_as_torch():
    assert _both(lambda m: ([m.ones(2), {"a": 1.0}], [m.ones(2), {"a": 1.0}]))[0] == "ok"
    assert _both(lambda m: (m.ones(2), m.ones(3)))[0] == "AssertionError"
    assert _both(lambda m: (m.ones(2), m.ones(2, dtype=m.float64)))[0] == "AssertionError"
    assert _both(lambda m: (m.ones(2), m.ones(2, dtype=m.float64)), check_dtype=False)[0] == "ok"
    assert _both(lambda m: (1.5, 1.0))[0] == "AssertionError"
    assert _both(lambda m: (1.0 + 1e-9, 1.0))[0] == "ok"
    assert _both(lambda m: (m.ones(2), m.ones(2)), rtol=1e-3)[0] == "ValueError"
