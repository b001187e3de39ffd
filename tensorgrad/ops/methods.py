"""Tensor's operators and op methods, attached once at package import (Chainer's install_variable_arithmetics).

tensor.py defines the class and imports no op; this module sits above every op module and copies the methods of
``_OpMethods`` onto Tensor, so ``a + b`` calls ops.elementwise.add directly with no import on the hot path.
"""
import numbers
import sys

from .. import dtypes, factories, legacy
from .. import _memory_format as MF
from ..autograd import engine
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..backend import Device, as_device
from ..tensor import Tensor, check_no_partial_overlap, check_no_internal_overlap
from . import composite as C
from . import elementwise as E, elementwise_math as EM, reduce as R, scan as S, movement as M, indexing as IX, matmul as MM
from . import nn as NN
from . import assign as A
from . import view_history as VH
from . import special as SP
from . import shrink as SH
from . import extra_math as XM


_plain_copy_ = Tensor.copy_  # (tensor.py's, before install() puts _OpMethods.copy_ in its place)
_plain_fill_ = Tensor.fill_
_plain_zero_ = Tensor.zero_


def _everywhere(t):
    return Tensor._make(t._xp.ones(t.shape, dtype=bool), None)


def _composite(name):
    """A method calling ops.composite.<name>(self, ...)."""
    fn = getattr(C, name)

    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


class _OpMethods:
    def clone(self, memory_format=None):
        # a dense input keeps its layout, as torch's preserve_format (so a clone of x.mT is not contiguous, and its
        # .contiguous() is a copy, not the clone itself); anything else (an expanded view) comes out in C order
        fmt = MF.check(memory_format, "clone")
        if self.requires_grad:
            out = E.Add.apply(self, self.dtype.type(0))
        else:
            out = Tensor._make(self.array.copy(order="K" if MF.dense(self.array) else "C"), None)
        if fmt is MF.contiguous_format and not out.array.flags.c_contiguous:
            out = out.contiguous()
        elif fmt is not None and fmt is not MF.contiguous_format and fmt is not MF.preserve_format:
            # (the format's own strides, size-1 dims included, as torch's empty_like(memory_format=...): a
            # (1, 1, 1, 2) clone in channels_last had C strides (2, 2, 2, 1), torch's being (2, 1, 2, 1))
            MF.check_rank(fmt, out.ndim, "clone")
            out = out._relaid(fmt, force=True)
        return out

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False, memory_format=None):
        """torch's three forms: to(device, dtype), to(dtype), to(other tensor); then non_blocking and copy, also
        positionally (x.to(dev, dtype, True)). non_blocking changes nothing here: a copy between host and GPU is
        complete when it returns. copy=True gives a new tensor even when nothing changes; memory_format lays the
        result out as asked."""
        flags = []
        for a in args:
            if isinstance(a, bool):
                flags.append(a)
            elif isinstance(a, (str, Device)) and str(a).split(":")[0] in ("cpu", "cuda"):
                device = a
            elif isinstance(a, int):  # a CUDA device index, as torch
                device = f"cuda:{a}"
            elif isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            else:
                dtype = a
        if len(flags) > 2:
            raise TypeError(f"to: too many positional booleans {flags} (expected non_blocking, copy)")
        copy = flags[1] if len(flags) == 2 else copy
        out = self
        if device is not None and as_device(device) != self.device:
            out = E.ToDevice.apply(out, as_device(device))
        if dtype is not None:
            dt = dtypes.to_dtype(dtype)
            if dt != out.dtype:
                out = E.Cast.apply(out, dt)
        if copy and out is self:
            out = self.clone()
        fmt = MF.check(memory_format, "to")
        if fmt is not None and fmt is not MF.preserve_format:
            MF.check_rank(fmt, out.ndim, "to")
            out = out._relaid(fmt, force=True)
        return out

    def cpu(self, memory_format=None):
        return self.to("cpu", memory_format=memory_format)

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device,
                       memory_format=memory_format)

    def contiguous(self, memory_format=None):
        """Itself when its memory already is in the format's order, else a copy laid out so (the gradient flows
        back unchanged: a memory format changes strides, never values)."""
        fmt = MF.check(memory_format, "contiguous")
        if fmt is None or fmt is MF.contiguous_format:
            return M.contiguous(self)
        if fmt is MF.preserve_format:
            if self.array.flags.c_contiguous:
                return self
            raise RuntimeError("contiguous: preserve memory format is unsupported by the contiguous operator")
        MF.check_rank(fmt, self.ndim, "contiguous")
        return self._relaid(fmt, force=False)

    def _relaid(self, fmt, force):
        """Itself when its memory is in fmt's order (force: with fmt's own strides), else a copy laid out so; the
        gradient flows back unchanged (a memory format changes strides, never values)."""
        new = MF.layout_array(self.array, fmt, force)
        if new is self.array:
            return self
        if self.requires_grad and is_grad_enabled():
            out = E.Add.apply(self, new.dtype.type(0))  # (an identity node: the gradient passes through)
            out.array = new  # the same values, in fmt's strides
            return out
        return Tensor._make(new, None)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool_)

    def type(self, dtype=None, non_blocking=False):
        """torch's: no argument gives the legacy type name ('torch.FloatTensor'); a dtype, a legacy class or its
        name converts."""
        if dtype is None:
            return legacy.type_name(self)
        converted = legacy.from_name(self, dtype)
        return self.to(dtype) if converted is None else converted

    def type_as(self, other):
        return self.to(other)  # torch's "type" names the device too (torch.cuda.FloatTensor)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):

        return factories.zeros(*size, **self._new_kw(dtype, device), requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):

        return factories.ones(*size, **self._new_kw(dtype, device), requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):

        return factories.empty(*size, **self._new_kw(dtype, device), requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):

        return factories.full(size, fill_value, **self._new_kw(dtype, device), requires_grad=requires_grad)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        engine.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def _inplace(self, fn, other, op):
        if other.__class__ is Tensor:
            check_no_partial_overlap(op, self.array, other.array)
        return _apply_inplace(self, lambda s: fn(s, other), op)

    def __iadd__(self, o): return self._inplace(E.add, o, "add_ (+=)")
    def __isub__(self, o): return self._inplace(E.sub, o, "sub_ (-=)")
    def __imul__(self, o): return self._inplace(E.mul, o, "mul_ (*=)")
    def __itruediv__(self, o): return self._inplace(E.div, o, "div_ (/=)")
    # (without these Python falls back to x = x // o: a new tensor, another dtype, and views of x left stale)
    def __ifloordiv__(self, o): return self._inplace(EM.floor_divide, o, "floor_divide_ (//=)")
    def __imod__(self, o): return self._inplace(EM.remainder, o, "remainder_ (%=)")
    def __ipow__(self, o): return self._inplace(E.pow, o, "pow_ (**=)")
    def __iand__(self, o): return self._inplace(SP.bitwise_and, o, "bitwise_and_ (&=)")
    def __ior__(self, o): return self._inplace(SP.bitwise_or, o, "bitwise_or_ (|=)")
    def __ixor__(self, o): return self._inplace(SP.bitwise_xor, o, "bitwise_xor_ (^=)")
    def __ilshift__(self, o): return self._inplace(SP.bitwise_left_shift, o, "bitwise_left_shift_ (<<=)")
    def __irshift__(self, o): return self._inplace(SP.bitwise_right_shift, o, "bitwise_right_shift_ (>>=)")
    def add_(self, o, alpha=1): return self._inplace(E.add, o if alpha == 1 else o * alpha, "add_")
    def sub_(self, o, alpha=1): return self._inplace(E.sub, o if alpha == 1 else o * alpha, "sub_")
    def mul_(self, o): return self._inplace(E.mul, o, "mul_")
    def div_(self, o, *, rounding_mode=None):
        if rounding_mode is None:
            return self._inplace(E.div, o, "div_")
        return self._inplace(lambda a, b: XM.divide(a, b, rounding_mode=rounding_mode), o, "div_")
    def clamp_(self, min=None, max=None): return _apply_inplace(self, lambda s: E.clamp(s, min, max), "clamp_")
    def masked_fill_(self, mask, value):
        return _apply_inplace(self, lambda s: M.masked_fill(s, mask, value), "masked_fill_")

    def _take_result(self, r):
        """Give this non-leaf tensor the result r of an op on it (its array and node) when nothing else sees its memory
        and r has its shape and dtype; False, changing nothing, otherwise (ops/util.write_back)."""
        if self.grad_fn is None or r.dtype != self.dtype or tuple(r.shape) != tuple(self.shape):
            return False
        held = _saved_by(r, self.array, self.grad_fn)  # (silu's Mul keeps x: torch's original_self, never written)
        if held is None:
            return False
        if not _unshared(self, held):
            # views share the memory: write it and rewrite their histories, when r's nodes saved none of it
            root = VH.family(self) if held == 0 else None
            if root is None:
                return False
            VH.check_rebase(self, root, "inplace=True")
            VH.rebase(self, r, root)
            return True
        _adopt(self, r)
        return True

    def copy_(self, src, non_blocking=False):
        if src is self:  # torch returns at once: no write, so no overlap to refuse on an expanded tensor
            return self
        if is_grad_enabled() and ((isinstance(src, Tensor) and src.requires_grad) or self.requires_grad):
            # torch: self then has src's history (none for a constant src: its old values get a zero gradient)
            if isinstance(src, Tensor) and src.array.__class__ is self.array.__class__:
                check_no_partial_overlap("copy_", self.array, src.array)
            def copied(s):
                v = src if isinstance(src, Tensor) else Tensor._make(s._xp.asarray(src), None)
                v = v.to(device=s.device, dtype=s.dtype) if (v.device, v.dtype) != (s.device, s.dtype) else v
                return E.where(_everywhere(s), v.expand(s.shape), s) if s.requires_grad else v.expand(s.shape).clone()
            return _apply_inplace(self, copied, "copy_")
        return _plain_copy_(self, src)

    def fill_(self, value):
        if is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            # as torch: the old values' gradient is 0 (a where over all of self keeps the node's shape and dtype)
            if isinstance(value, Tensor) and value.requires_grad:
                check_no_internal_overlap("fill_", self.array)  # (one value at several places: whose gradient?)
            return _apply_inplace(self, lambda s: E.where(_everywhere(s), value, s), "fill_")
        return _plain_fill_(self, value.item() if isinstance(value, Tensor) else value)

    def zero_(self):
        if is_grad_enabled() and self.requires_grad:
            return _apply_inplace(self, lambda s: E.where(_everywhere(s), 0.0, s), "zero_")
        return _plain_zero_(self)

    # ------------------------------------------------------------------------------- operators
    __add__ = E.add  # (the op itself, no extra frame: a + b calls add(a, b))
    # torch's reflected add/mul run as add(self, o): the tensor is grad_fn.next_functions[0], as printed graphs show
    def __radd__(self, o): return E.add(self, o)
    __sub__ = E.sub
    def __rsub__(self, o): return E.sub(o, self)
    __mul__ = E.mul
    def __rmul__(self, o): return E.mul(self, o)
    __truediv__ = E.div
    def __rtruediv__(self, o):
        # (torch's scalar / tensor is tensor.reciprocal() * scalar, rounded twice: 7 / bfloat16 3 is 2.34375)
        return EM.reciprocal(self) * o if isinstance(o, numbers.Real) else E.div(o, self)
    def __pow__(self, o): return E.pow(self, o)
    def __rpow__(self, o): return E.pow(o, self)
    def __floordiv__(self, o): return EM.floor_divide(self, o)
    def __rfloordiv__(self, o): return EM.floor_divide(o, self)
    def __mod__(self, o): return EM.remainder(self, o)
    def __rmod__(self, o): return EM.remainder(o, self)
    def __matmul__(self, o): return MM.matmul(self, o)
    def __rmatmul__(self, o): return MM.matmul(o, self)
    __neg__ = E.neg
    def __pos__(self): return self
    def __abs__(self): return E.abs(self)
    def __eq__(self, o): return E.eq(self, o)
    def __ne__(self, o): return E.ne(self, o)
    def __lt__(self, o): return E.lt(self, o)
    def __le__(self, o): return E.le(self, o)
    def __gt__(self, o): return E.gt(self, o)
    def __ge__(self, o): return E.ge(self, o)

    def __getitem__(self, index): return M.getitem(self, index)
    def __setitem__(self, index, value):
        if is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
            if not _unshared(self) and VH.family(self) is not None and not M._convert_index(self, index, "setitem")[1]:
                # views share the memory: a copy_ into the region's view, which writes only the region (an expanded
                # tensor's other elements on the same memory must keep the value written)
                _setitem_region(self, index, value)
                return
            # torch's index_put_ / CopySlices: self takes the history of the out-of-place result
            _apply_inplace(self, lambda s: A.index_put(s, index, value), "setitem")
        else:
            A.setitem(self, index, value)

    # ------------------------------------------------------------------------------- methods
    def add(self, other, *, alpha=1): return XM.add(self, other, alpha=alpha)
    def sub(self, other, *, alpha=1): return XM.subtract(self, other, alpha=alpha)
    mul = E.mul
    def div(self, other, *, rounding_mode=None):
        return E.div(self, other) if rounding_mode is None else XM.divide(self, other, rounding_mode=rounding_mode)
    pow = E.pow
    maximum = E.maximum
    minimum = E.minimum
    neg = E.neg
    exp = E.exp
    log = E.log
    sqrt = E.sqrt
    rsqrt = E.rsqrt
    abs = E.abs
    tanh = E.tanh
    sigmoid = E.sigmoid
    relu = E.relu
    hardshrink = SH.hardshrink
    clamp = E.clamp
    clip = E.clamp
    eq = E.eq
    ne = E.ne
    lt = E.lt
    le = E.le
    gt = E.gt
    ge = E.ge
    sum = R.sum
    mean = R.mean
    var = R.var
    std = R.std
    amax = R.amax
    amin = R.amin
    max = R.max
    min = R.min
    argmax = R.argmax
    argmin = R.argmin
    logsumexp = R.logsumexp
    matmul = MM.matmul
    mm = MM.mm
    bmm = MM.bmm
    mv = MM.mv
    dot = MM.dot
    vdot = MM.vdot
    outer = MM.outer
    ger = MM.ger
    inner = MM.inner
    addmm = MM.addmm
    addmv = MM.addmv
    baddbmm = MM.baddbmm
    addbmm = MM.addbmm
    addr = MM.addr
    cumsum = S.cumsum
    cumprod = S.cumprod
    logcumsumexp = S.logcumsumexp
    prod = S.prod
    norm = R.norm
    median = R.median
    allclose = R.allclose
    equal = R.equal
    reshape = M.reshape
    view = M.view
    permute = M.permute
    transpose = M.transpose
    t = M.t
    expand = M.expand
    squeeze = M.squeeze
    unsqueeze = M.unsqueeze
    flatten = M.flatten
    split = M.split
    chunk = M.chunk
    tril = M.tril
    triu = M.triu
    masked_fill = M.masked_fill
    flip = M.flip
    roll = M.roll
    repeat = M.repeat
    tile = M.tile
    repeat_interleave = IX.repeat_interleave
    unbind = M.unbind
    narrow = M.narrow
    select = M.select
    broadcast_to = M.broadcast_to
    gather = IX.gather
    take_along_dim = IX.take_along_dim
    scatter = IX.scatter
    scatter_add = IX.scatter_add
    index_select = IX.index_select
    index_add = IX.index_add

    # (through _apply_inplace: on a tensor that requires grad, or with a src that does, self takes the out-of-place
    # result's history, as torch's ScatterBackward / IndexAddBackward)
    def scatter_(self, dim, index, src=None, *, value=None, reduce=None):
        return _apply_inplace(self, lambda s: IX.scatter(s, dim, index, src, value=value, reduce=reduce), "scatter_")

    def scatter_add_(self, dim, index, src):
        return _apply_inplace(self, lambda s: IX.scatter_add(s, dim, index, src), "scatter_add_")

    def index_add_(self, dim, index, source, *, alpha=1):
        return _apply_inplace(self, lambda s: IX.index_add(s, dim, index, source, alpha=alpha), "index_add_")
    masked_select = IX.masked_select
    nonzero = IX.nonzero
    argwhere = IX.argwhere
    diag = IX.diag
    diagonal = IX.diagonal
    diag_embed = IX.diag_embed
    trace = R.trace
    softmax = NN.softmax
    log_softmax = NN.log_softmax
    sin = EM.sin
    cos = EM.cos
    tan = SP.tan
    asin = arcsin = SP.asin
    acos = arccos = SP.acos
    atan = arctan = SP.atan
    sinh = SP.sinh
    cosh = SP.cosh
    asinh = arcsinh = SP.asinh
    acosh = arccosh = SP.acosh
    atanh = arctanh = SP.atanh
    erfinv = SP.erfinv
    erfc = SP.erfc
    lgamma = SP.lgamma
    digamma = SP.digamma
    def polygamma(self, n): return SP.polygamma(n, self)
    logit = SP.logit
    deg2rad = SP.deg2rad
    rad2deg = SP.rad2deg
    atan2 = arctan2 = SP.atan2
    hypot = SP.hypot
    logaddexp = SP.logaddexp
    logaddexp2 = SP.logaddexp2
    xlogy = SP.xlogy
    fmod = SP.fmod
    copysign = SP.copysign
    fmax = SP.fmax
    fmin = SP.fmin
    bitwise_and = __and__ = SP.bitwise_and
    bitwise_or = __or__ = SP.bitwise_or
    bitwise_xor = __xor__ = SP.bitwise_xor
    bitwise_left_shift = __lshift__ = SP.bitwise_left_shift
    bitwise_right_shift = __rshift__ = SP.bitwise_right_shift
    def __rand__(self, o): return SP.bitwise_and(o, self)
    def __ror__(self, o): return SP.bitwise_or(o, self)
    def __rxor__(self, o): return SP.bitwise_xor(o, self)
    def __rlshift__(self, o): return SP.bitwise_left_shift(o, self)
    def __rrshift__(self, o): return SP.bitwise_right_shift(o, self)
    bitwise_not = SP.bitwise_not
    signbit = SP.signbit
    isposinf = SP.isposinf
    isneginf = SP.isneginf
    erf = EM.erf
    log1p = EM.log1p
    expm1 = EM.expm1
    log2 = EM.log2
    log10 = EM.log10
    reciprocal = EM.reciprocal
    sign = EM.sign
    floor = EM.floor
    ceil = EM.ceil
    round = EM.round
    trunc = EM.trunc
    frac = EM.frac
    square = EM.square
    lerp = EM.lerp
    logical_not = EM.logical_not
    logical_and = EM.logical_and
    logical_or = EM.logical_or
    logical_xor = EM.logical_xor
    addcmul = EM.addcmul
    addcdiv = EM.addcdiv
    floor_divide = EM.floor_divide
    remainder = EM.remainder

    def expand_as(self, other):
        return self.expand(other.shape)

    def view_as(self, other):
        return self.reshape(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    movedim = M.movedim

    def swapaxes(self, a, b):
        return self.transpose(a, b)

    def gelu(self, approximate="none"):
        return NN.gelu(self, approximate)

    def where(self, cond, other):
        return E.where(cond, self, other)

    topk = _composite("topk")
    sort = _composite("sort")
    argsort = _composite("argsort")
    multinomial = _composite("multinomial")
    all = _composite("all")
    any = _composite("any")
    isnan = _composite("isnan")
    isinf = _composite("isinf")
    isfinite = _composite("isfinite")
    isclose = _composite("isclose")
    count_nonzero = _composite("count_nonzero")
    unique = _composite("unique")
    unique_consecutive = _composite("unique_consecutive")
    bincount = _composite("bincount")
    histc = _composite("histc")
    clamp_min = _composite("clamp_min")
    clamp_max = _composite("clamp_max")
    nan_to_num = _composite("nan_to_num")
    tensor_split = _composite("tensor_split")
    diff = _composite("diff")

    def nan_to_num_(self, nan=0.0, posinf=None, neginf=None):
        return _apply_inplace(self, lambda s: C.nan_to_num(s, nan, posinf, neginf), "nan_to_num_")

    def clamp_min_(self, min):
        return self.clamp_(min=min)

    def clamp_max_(self, max):
        return self.clamp_(max=max)


def _apply_inplace(self, compute, op):
    """self <- compute(self), torch's in-place op. Without a gradient to record, the result is written into self's
    memory. With one (self requires grad, or the result does, as in `acc += loss`), torch rebases self's history on
    the op; here self takes the result's array and node, which is the same thing as long as nothing else sees self's
    memory (a view of it, .data, from_numpy, an array saved for a gradient): then it raises instead. A leaf that
    requires grad is refused, and a result dtype torch cannot cast into self's ("result type Float can't be cast to
    the desired output type Long")."""
    recording = is_grad_enabled()
    if recording and self.requires_grad and self.grad_fn is None:
        self._check_inplace(op)  # raises: a leaf that requires grad
    shared = not _unshared(self)  # (before the op: its own node may keep the old array, as torch's original_self)
    root = VH.family(self) if shared and recording else None
    # memory shared only outside autograd's views (detach(), .data, from_numpy, an array a node saved): torch writes
    # it and rebases this tensor's history alone; a saved array so overwritten fails at backward by its version
    loose = shared and recording and root is None and self._base is None \
        and not any(w() is not None for w in self._views or ())
    src = self
    if root is not None or loose:
        # The result is computed from a copy, torch's original_self: its nodes must not save the memory written
        if root is not None:
            VH.check_rebase(self, root, op)
        src = Tensor._make(self.array.copy(), self.grad_fn)
        src._requires_grad = self._requires_grad
    r = compute(src)
    if r.dtype != self.dtype:
        if not dtypes.can_cast(r.dtype, self.dtype):
            raise RuntimeError(f"{op}: result type {dtypes.name(r.dtype)} can't be cast to the desired output type "
                               f"{dtypes.name(self.dtype)} (tensor of shape {tuple(self.shape)})")
        r = r.to(self.dtype)
    if recording and self.requires_grad and not r.requires_grad:
        # a result without a gradient (a comparison, heaviside, nextafter) written into a tensor that requires grad:
        # torch records it with a zero gradient toward the old value (x.gt_(0) on a non-leaf, or through a view);
        # this raised 'in-place operation on a tensor that requires grad'. The -0.0 leaves every value as it is
        r = E.add(r, E.where(Tensor._make(self._xp.zeros((), dtype=bool), None), src, -0.0))
    if not (recording and r.requires_grad):
        return self._inplace_assign(r.array, op)
    if tuple(r.shape) != tuple(self.shape):
        raise RuntimeError(f"{op}: result of shape {tuple(r.shape)} can't be written in place into shape "
                           f"{tuple(self.shape)}")
    if root is not None:
        VH.rebase(self, r, root)
        return self
    if loose:
        check_no_internal_overlap(op, self.array)
        self.array[...] = r.array
        self._bump()
        self.grad_fn, self._requires_grad = r.grad_fn, True
        return self
    if shared:
        raise RuntimeError(
            f"{op}: in-place operation recording a gradient on a tensor (shape {tuple(self.shape)}) whose memory is "
            "also seen elsewhere (a view of another tensor, a tensor with views, .data, from_numpy, or an array saved "
            "for a gradient) is not supported: tensorgrad would have to rewrite the history of every alias, as torch "
            "does; use the out-of-place form (y = x + ...) or clone() first")
    _adopt(self, r)
    return self


def _setitem_region(t, index, value):
    region = M.getitem(t, index)
    if isinstance(value, Tensor):
        shape = value.shape  # (NumPy's rule: value may have leading 1s beyond the region's dims)
        lead = next((i for i, n in enumerate(shape) if n != 1), len(shape))
        if len(shape) > region.ndim:
            value = value.reshape(shape[min(lead, len(shape) - region.ndim):])
    region.copy_(value)


def _adopt(t, r):
    """t becomes the result r (its array and node): torch's in-place history, where nothing else sees t's memory."""
    a = r.array
    if a is t.array or a.base is t.array:  # (a result that is a view of t: give t memory of its own)
        a = a.copy()
    elif a.strides != t.array.strides and a.shape == t.array.shape and hasattr(a, "copy"):
        # an in-place op keeps t's strides in torch (a channels_last z after z.add_(x) with x in C order); the
        # result NumPy laid out otherwise is copied into t's layout
        a = t.array.copy(order="K") if MF.dense(t.array) else a
        if a is not r.array:
            a[...] = r.array
    t.array, t.grad_fn, t._requires_grad = a, r.grad_fn, r.requires_grad


def _unshared(t, held=0):
    """Whether t's array and the arrays it views are held by nothing but t (and the views' .base links, and ``held``
    references the caller accounts for): then giving t a new array is indistinguishable from writing into the old
    one."""
    if sys.getrefcount(t.array) > 2 + held:  # (t's slot, getrefcount's argument)
        return False
    b = t.array.base
    while b is not None:
        if not hasattr(b, "base") or sys.getrefcount(b) > 3:  # (the view's .base, the local b, the argument)
            return False
        b = b.base
    return True


def _saved_by(r, array, stop, limit=16):
    """How many references to ``array`` the nodes between r and ``stop`` (the node that made array) hold in their
    saved arrays and version records; None when the walk meets more than ``limit`` nodes (a result with a long
    history of its own: the caller then treats the memory as shared)."""
    count, seen, todo = 0, set(), [r.grad_fn]
    while todo:
        n = todo.pop()
        if n is None or n is stop or id(n) in seen or not isinstance(n, Function):
            continue
        seen.add(id(n))
        if len(seen) > limit:
            return None
        count += sum(1 for a in n.saved if a is array) + sum(1 for v in n.versions if v[0] is array)
        todo.extend(n.next)
    return count


def _unary_inplace(name):
    """x.<name>_(): the out-of-place op's result in x (_apply_inplace)."""
    def method(self, *args, **kwargs):
        return _apply_inplace(self, lambda s: getattr(s, name)(*args, **kwargs), name + "_")
    method.__name__ = name + "_"
    return method


_UNARY_INPLACE = ("abs", "neg", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "sigmoid", "tanh",
                  "sin", "cos", "floor", "ceil", "round", "trunc", "frac", "reciprocal", "sign", "erf", "square",
                  "relu", "pow", "remainder", "lerp", "addcmul", "addcdiv", "tan", "asin", "acos", "atan", "sinh",
                  "cosh", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
                  "erfinv", "erfc", "lgamma", "digamma", "polygamma", "logit", "deg2rad", "rad2deg", "atan2", "arctan2", "hypot",
                  "xlogy", "fmod", "copysign", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
                  "bitwise_left_shift", "bitwise_right_shift")
for _n in _UNARY_INPLACE:
    if not hasattr(_OpMethods, _n + "_"):
        setattr(_OpMethods, _n + "_", _unary_inplace(_n))


def install():
    for k, v in vars(_OpMethods).items():
        if not (k.startswith("__") and k.endswith("__")) or k in _OPERATORS:
            setattr(Tensor, k, v)


_OPERATORS = {k for k in vars(_OpMethods) if k.startswith("__") and k.endswith("__")} - {
    "__module__", "__qualname__", "__dict__", "__weakref__", "__doc__", "__firstlineno__", "__static_attributes__",
    "__hash__"}  # defining __eq__ set _OpMethods.__hash__ to None; Tensor keeps its identity hash
install()
