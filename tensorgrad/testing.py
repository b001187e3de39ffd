"""tensorgrad.testing: torch.testing.assert_close, the deprecated assert_allclose, and make_tensor
(testing_make.py); the alias maps torch.testing here.

assert_close(actual, expected) passes when both have the same structure (tensors, Python numbers, and lists, tuples
and dicts of them), each pair of tensors the same shape (and dtype and device, unless told not to check) and every
element satisfies |actual - expected| <= atol + rtol |expected|, with torch's default tolerances for the dtype
(NaN equals NaN only with equal_nan=True). Failures raise AssertionError with torch's wording.
"""
import numbers
import warnings

import numpy as np

from . import dtypes
from .tensor import Tensor, tensor
from .testing_make import make_tensor  # noqa: F401

__all__ = ["assert_close", "assert_allclose", "make_tensor"]

# torch's defaults, per dtype: (rtol, atol)
_TOL = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(dtypes.bfloat16): (1.6e-2, 1e-5),
        np.dtype(np.float32): (1.3e-6, 1e-5), np.dtype(np.float64): (1e-7, 1e-7)}


def _fail(msg, default):
    raise AssertionError(msg if msg is not None else default)


def _name(t):
    return f"torch.{dtypes.name(t.dtype)}"


def _pair(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path):
    where = f"\n\nThe failure occurred for item {path}" if path else ""
    if isinstance(actual, numbers.Number) and isinstance(expected, numbers.Number) and \
            not isinstance(actual, Tensor) and not isinstance(expected, Tensor):
        r, a = (0.0, 0.0) if isinstance(expected, numbers.Integral) and isinstance(actual, numbers.Integral) \
            else _TOL[np.dtype(np.float64)]
        r, a = (r, a) if rtol is None else (rtol, atol)
        diff = abs(actual - expected)
        if actual == expected or (equal_nan and actual != actual and expected != expected) or diff <= a + r * abs(expected):
            return
        rel = diff / abs(expected) if expected != 0 else float("inf")
        _fail(msg, f"Scalars are not {'equal' if r == a == 0 else 'close'}!\n\nExpected {expected} but got {actual}.\nAbsolute difference: {diff} "
                   f"(up to {a} allowed)\nRelative difference: {rel} (up to {r} allowed){where}")
    if not isinstance(actual, Tensor) or not isinstance(expected, Tensor):
        _fail(msg, f"Comparing {type(actual).__name__} and {type(expected).__name__} is not supported: assert_close "
                   f"takes tensors, numbers, and lists, tuples and dicts of them{where}")
    if tuple(actual.shape) != tuple(expected.shape):
        _fail(msg, f"The values for attribute 'shape' do not match: torch.Size({list(actual.shape)}) != "
                   f"torch.Size({list(expected.shape)}).{where}")
    if check_dtype and actual.dtype != expected.dtype:
        _fail(msg, f"The values for attribute 'dtype' do not match: {_name(actual)} != {_name(expected)}.{where}")
    if check_device and actual.device != expected.device:
        _fail(msg, f"The values for attribute 'device' do not match: {actual.device} != {expected.device}.{where}")
    dt = np.promote_types(np.dtype(actual.dtype), np.dtype(expected.dtype)) if actual.dtype != expected.dtype \
        else np.dtype(actual.dtype)
    r, a = _TOL.get(dt, (0.0, 0.0)) if rtol is None else (rtol, atol)
    x = np.asarray(actual.detach().cpu()).astype(np.float64)
    y = np.asarray(expected.detach().cpu()).astype(np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isclose(x, y, rtol=r, atol=a, equal_nan=equal_nan) | (x == y)
    if ok.all():
        return
    bad = ~ok
    with np.errstate(invalid="ignore", divide="ignore"):
        absd = np.where(bad, np.abs(x - y), 0.0)
        reld = np.where(bad, np.abs(x - y) / np.abs(y), 0.0)
    ia = np.unravel_index(int(np.nanargmax(absd)) if not np.isnan(absd).all() else 0, x.shape)
    ir = np.unravel_index(int(np.nanargmax(reld)) if not np.isnan(reld).all() else 0, x.shape)
    n, k = x.size, int(bad.sum())
    _fail(msg, f"Tensor-likes are not {'equal' if r == a == 0 else 'close'}!\n\nMismatched elements: {k} / {n} ({100 * k / n:.1f}%)\n"
               f"Greatest absolute difference: {absd[ia]} at index {tuple(int(i) for i in ia)} (up to {a} allowed)\n"
               f"Greatest relative difference: {reld[ir]} at index {tuple(int(i) for i in ir)} (up to {r} allowed)"
               f"{where}")


def _walk(actual, expected, path, kw):
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            _fail(kw["msg"], f"The keys of the mappings do not match (item {path or 'the inputs'})")
        for key in expected:
            _walk(actual[key], expected[key], f"{path}[{key!r}]", kw)
    elif isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            _fail(kw["msg"], f"The length of the sequences mismatch: {len(actual) if isinstance(actual, (list, tuple)) else actual!r} "
                             f"!= {len(expected)} (item {path or 'the inputs'})")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _walk(a, e, f"{path}[{i}]", kw)
    else:
        _pair(actual, expected, path=path, **kw)


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no "
                         f"{'rtol' if rtol is None else 'atol'}.")
    _walk(actual, expected, "", dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device,
                                     check_dtype=check_dtype, msg=msg))


def assert_allclose(actual, expected, rtol=None, atol=None, equal_nan=True, msg=""):
    """Deprecated in torch (1.12) for assert_close: numbers become tensors (expected in actual's dtype), dtypes need
    not match, and the default tolerances are the larger of the two dtypes'."""
    warnings.warn("`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a future "
                  "release. Please use `torch.testing.assert_close()` instead. You can find detailed upgrade "
                  "instructions in https://github.com/pytorch/pytorch/issues/61844.", FutureWarning, stacklevel=2)
    if not isinstance(actual, Tensor):
        actual = tensor(actual)
    if not isinstance(expected, Tensor):
        expected = tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        a = _TOL.get(np.dtype(actual.dtype), (0.0, 0.0))
        b = _TOL.get(np.dtype(expected.dtype), (0.0, 0.0))
        rtol, atol = max(a[0], b[0]), max(a[1], b[1])
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=True, check_dtype=False,
                 check_stride=False, msg=msg or None)
