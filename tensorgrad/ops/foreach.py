"""torch._foreach_*: one op over a list of tensors (multi-tensor optimizer steps: timm's NAdamW, Lion, ADOPT, Adan;
torch.optim's own foreach paths).

Each is the per-tensor op applied in a loop (torch's fused multi-tensor CUDA kernels are a launch-count
optimization; the values are the same). The second operand may be one scalar, one 0-d Tensor (for every
tensor), a list of tensors or a list of scalars, as torch's overloads; lists must match in length. The out-of-place
forms return a tuple of new tensors (differentiable, as each op is); the in-place forms (trailing _) update each
tensor and return the list they were given.
"""
from ..tensor import Tensor
from . import elementwise as E
from .reduce import vector_norm

_UNARY = ("abs", "acos", "asin", "atan", "ceil", "cos", "cosh", "erf", "erfc", "exp", "expm1", "floor", "frac",
          "lgamma", "log", "log10", "log1p", "log2", "neg", "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin",
          "sinh", "sqrt", "tan", "tanh", "trunc")
_NOT_GIVEN = object()


def _list(name, tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name}: Tensor list must have at least one tensor.")
    return tensors


def _spread(name, n, other, alpha=_NOT_GIVEN):
    """``other`` as one operand per tensor of a list of n (torch's Scalar, 0-d Tensor, TensorList, ScalarList forms)."""
    if isinstance(other, Tensor):
        if other.ndim != 0:
            raise RuntimeError(f"{name}: scalar tensor expected to be 0 dim but it has {other.ndim} dimensions and "
                               f"{other.numel()} elements.")
        return [other] * n
    if isinstance(other, (list, tuple)):
        items = list(other)
        tensors = all(isinstance(o, Tensor) for o in items)
        if len(items) != n:
            raise RuntimeError(f"{name}: Tensor lists must have the same number of tensors, got {n} and {len(items)}"
                               if tensors else f"{name}: Tensor list must have same number of elements as scalar "
                               f"list (got {n} tensors and {len(items)} scalars).")
        if alpha is not _NOT_GIVEN and not tensors:
            raise TypeError(f"{name}(): alpha is only taken with a list of tensors or a tensor as the second operand")
        return items
    if alpha is not _NOT_GIVEN:
        raise TypeError(f"{name}(): alpha is only taken with a list of tensors or a tensor as the second operand, not "
                        f"a {type(other).__name__}")
    return [other] * n


# the ops whose Tensor method has an in-place twin taking the same operands (maximum has none; clamp_min_ takes no
# tensor bound): the others are computed and copied in
_OWN_INPLACE = frozenset(("add", "sub", "mul", "div", "pow") + _UNARY)


def _apply_inplace(t, op, method, *args, **kwargs):
    """t updated in place by op: by its own in-place method where it has one, else by a copy_ of the new value."""
    if method in _OWN_INPLACE and hasattr(t, method + "_"):
        getattr(t, method + "_")(*args, **kwargs)
    else:
        t.copy_(op(t, *args, **kwargs))


def _maximum(t, o):
    return t.clamp_min(o) if not isinstance(o, Tensor) else E.maximum(t, o)


def _minimum(t, o):
    return t.clamp_max(o) if not isinstance(o, Tensor) else E.minimum(t, o)


def _binary(method, op, takes_alpha=False):
    def parse(name, kw):
        alpha = kw.pop("alpha", _NOT_GIVEN) if takes_alpha else _NOT_GIVEN
        if kw:
            raise TypeError(f"{name}() got an unexpected keyword argument '{next(iter(kw))}'")
        return alpha, ({} if alpha is _NOT_GIVEN else {"alpha": alpha})

    def out_of_place(self, other, **kw):
        name = f"_foreach_{method}"
        ts = _list(name, self)
        alpha, extra = parse(name, kw)
        return tuple(op(t, o, **extra) for t, o in zip(ts, _spread(name, len(ts), other, alpha)))

    def in_place(self, other, **kw):
        name = f"_foreach_{method}_"
        ts = _list(name, self)
        alpha, extra = parse(name, kw)
        for t, o in zip(ts, _spread(name, len(ts), other, alpha)):
            _apply_inplace(t, op, method, o, **extra)
        return self
    return out_of_place, in_place


def _unary(method):
    def out_of_place(self):
        return tuple(getattr(t, method)() for t in _list(f"_foreach_{method}", self))

    def in_place(self):
        for t in _list(f"_foreach_{method}_", self):
            _apply_inplace(t, lambda x: getattr(x, method)(), method)
        return self
    return out_of_place, in_place


def _pointwise(method):
    """addcmul / addcdiv: self + value * (t1 op t2), value a scalar, a list of scalars or a 1-D tensor of them."""
    def values(name, n, value):
        if isinstance(value, Tensor):
            if value.ndim != 1 or value.numel() != n:
                raise RuntimeError(f"{name}: expected a 1-D tensor of {n} scalars, got shape {tuple(value.shape)}")
            return value.tolist()
        return _spread(name, n, value)

    def out_of_place(self, tensor1, tensor2, value=1):
        name = f"_foreach_{method}"
        ts = _list(name, self)
        a, b = _spread(name, len(ts), list(tensor1)), _spread(name, len(ts), list(tensor2))
        return tuple(getattr(t, method)(x, y, value=v) for t, x, y, v in zip(ts, a, b, values(name, len(ts), value)))

    def in_place(self, tensor1, tensor2, value=1):
        name = f"_foreach_{method}_"
        ts = _list(name, self)
        a, b = _spread(name, len(ts), list(tensor1)), _spread(name, len(ts), list(tensor2))
        for t, x, y, v in zip(ts, a, b, values(name, len(ts), value)):
            getattr(t, method + "_")(x, y, value=v)
        return self
    return out_of_place, in_place


def _lerp():
    def out_of_place(self, tensors1, weight):
        ts = _list("_foreach_lerp", self)
        ends = _spread("_foreach_lerp", len(ts), list(tensors1))
        return tuple(t.lerp(e, w) for t, e, w in zip(ts, ends, _spread("_foreach_lerp", len(ts), weight)))

    def in_place(self, tensors1, weight):
        ts = _list("_foreach_lerp_", self)
        ends = _spread("_foreach_lerp_", len(ts), list(tensors1))
        for t, e, w in zip(ts, ends, _spread("_foreach_lerp_", len(ts), weight)):
            t.lerp_(e, w)
        return self
    return out_of_place, in_place


def _pow(self, exponent):
    if not isinstance(self, (list, tuple)):  # torch's _foreach_pow(scalar, exponents): scalar ** each tensor
        return tuple(E.pow(self, e) for e in _list("_foreach_pow", exponent))
    return _binary("pow", lambda t, o: t.pow(o))[0](self, exponent)


def _foreach_norm(self, ord=2, dtype=None):
    return tuple(vector_norm(t, ord, dtype=dtype) for t in _list("_foreach_norm", self))


def _foreach_max(self):
    return tuple(t.max() for t in _list("_foreach_max", self))


def _foreach_zero_(self):
    for t in _list("_foreach_zero_", self):
        t.zero_()
    return self


def _foreach_copy_(self, src, non_blocking=False):
    ts = _list("_foreach_copy_", self)
    for t, s in zip(ts, _spread("_foreach_copy_", len(ts), list(src))):
        t.copy_(s)
    return self


def _foreach_clone(self):
    return tuple(t.clone() for t in _list("_foreach_clone", self))


FUNCTIONS = {"_foreach_norm": _foreach_norm, "_foreach_max": _foreach_max, "_foreach_zero_": _foreach_zero_,
             "_foreach_copy_": _foreach_copy_, "_foreach_clone": _foreach_clone, "_foreach_pow": _pow,
             "_foreach_pow_": _binary("pow", lambda t, o: t.pow(o))[1]}
_BINARY = {"add": (lambda t, o, **kw: t.add(o, **kw), True), "sub": (lambda t, o, **kw: t.sub(o, **kw), True),
           "mul": (lambda t, o: t.mul(o), False), "div": (lambda t, o: t.div(o), False),
           "maximum": (_maximum, False), "minimum": (_minimum, False),
           "clamp_min": (_maximum, False), "clamp_max": (_minimum, False)}
for _m, (_op, _alpha) in _BINARY.items():
    FUNCTIONS[f"_foreach_{_m}"], FUNCTIONS[f"_foreach_{_m}_"] = _binary(_m, _op, _alpha)
for _m in _UNARY:
    FUNCTIONS[f"_foreach_{_m}"], FUNCTIONS[f"_foreach_{_m}_"] = _unary(_m)
for _m in ("addcmul", "addcdiv"):
    FUNCTIONS[f"_foreach_{_m}"], FUNCTIONS[f"_foreach_{_m}_"] = _pointwise(_m)
FUNCTIONS["_foreach_lerp"], FUNCTIONS["_foreach_lerp_"] = _lerp()
for _name, _fn in FUNCTIONS.items():
    _fn.__name__ = _fn.__qualname__ = _name
