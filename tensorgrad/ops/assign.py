"""Assignment into indexed regions: setitem (x[idx] = v, in place) and index_put, its out-of-place form with a
gradient (torch's index_put_ / CopySlices), which Tensor.__setitem__ uses when a gradient is recorded."""
import numpy as np

from .. import dtypes
from ..autograd.function import Function
from .util import unbroadcast
from ..tensor import Tensor, check_same_device, same_memory, check_no_partial_overlap, check_no_internal_overlap
from .graph import sum_to
from .movement import _convert_index, _index, _torch_order, _getitem


def _region(arr, idx, steps):
    return arr[steps[0]][steps[1]] if steps is not None else _index(arr, idx, False)


def _write(arr, idx, steps, v):
    if steps is not None:
        arr[steps[0]][steps[1]] = v  # the basic step is a view, so the write reaches arr
    else:
        arr[idx] = v


class IndexPut(Function):
    """a with a[idx] = v, out of place (v broadcast to the region, NumPy's leading-1 rule included). The gradient of
    a is g with the region zeroed; v's is the region of g summed down to v's shape (where an advanced index repeats
    a position, each value gets that position's gradient, as torch's index_put backward)."""

    def forward(self, a, v, idx, steps):
        self.idx, self.steps, self.v_shape = idx, steps, v.shape
        out = a.copy()
        _write(out, idx, steps, v)
        return out

    def _v_grad(self, region):
        extra = len(self.v_shape) - region.ndim
        if extra > 0:  # (v had leading 1s the region has not)
            region = region.reshape((1,) * extra + tuple(region.shape))
        return region

    def backward(self, g):
        ga = gv = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            _write(ga, self.idx, self.steps, 0)
        if self.needs_input_grad[1]:
            gv = unbroadcast(self._v_grad(_region(g, self.idx, self.steps)), self.v_shape)
        return ga, gv, None, None

    def backward_graph(self, g):
        ga = gv = None
        if self.needs_input_grad[0]:
            ga = IndexPut.apply(g, Tensor._make(g.array.dtype.type(0), None), self.idx, self.steps)
        if self.needs_input_grad[1]:
            s = self.steps
            r = _getitem(_getitem(g, s[0], False), s[1], True) if s is not None else \
                _getitem(g, self.idx, bool(_convert_index(g, self.idx)[1]))
            gv = sum_to(self._v_grad(r), self.v_shape)
        return ga, gv, None, None


def _check_put_dtype(a, idx, advanced, value):
    """torch's index_put_ (any advanced index) takes a value tensor of the tensor's own dtype only; one bool mask as
    the only advanced index, with a 0-d value, is its masked_fill_, and a basic index its copy_, which both cast."""
    if not (advanced and isinstance(value, Tensor) and value.dtype != a.dtype):
        return
    # (a 0-d integer tensor in the index is a select for torch, not an advanced index)
    arrays = [ix for ix in idx if hasattr(ix, "dtype") and not (ix.ndim == 0 and ix.dtype.kind in "iu")]
    if not arrays or (value.ndim == 0 and len(arrays) == 1 and arrays[0].dtype == np.bool_):
        return
    raise RuntimeError(f"setitem: Index put requires the source and destination dtypes match, got "
                       f"{dtypes.name(a.dtype)} for the destination and {dtypes.name(value.dtype)} for the source "
                       f"(tensor of shape {tuple(a.shape)}, value of shape {tuple(value.shape)}); cast the value "
                       "with .to(x.dtype)")


def index_put(a, index, value):
    """a with a[index] = value, out of place and recorded: both a's and value's gradients flow."""
    idx, advanced = _convert_index(a, index, "setitem")
    _check_put_dtype(a, idx, advanced, value)
    if not isinstance(value, Tensor):
        value = Tensor._make(a._xp.asarray(value, dtype=a.dtype), None)
    elif value.device != a.device:
        check_same_device("setitem", (a, value))
    elif value.dtype != a.dtype:
        value = value.to(a.dtype)
    try:
        return IndexPut.apply(a, value, idx, _torch_order(idx))
    except (IndexError, ValueError) as e:
        raise type(e)(f"setitem: index {index!r} or value of shape {tuple(value.shape)} is invalid for a tensor of "
                      f"shape {tuple(a.shape)}: {e}") from None


def setitem(a, index, value):
    """a[index] = value written into a's memory, with no gradient recorded (Tensor.__setitem__ sends the cases that
    record one to index_put, through the in-place machinery)."""
    idx, advanced = _convert_index(a, index, "setitem")
    _check_put_dtype(a, idx, advanced, value)
    if not advanced:  # (torch checks the region written, so x.expand(2, 3)[0] = v is fine; index_put_ is unchecked)
        region = _index(a.array, idx, False)
        if isinstance(value, Tensor) and value.array.__class__ is region.__class__:
            # torch's copy_to: the value without its leading 1s, expanded to the region; the same memory is no write
            v = value.array
            v = v.reshape(v.shape[next((i for i, n in enumerate(v.shape) if n != 1), v.ndim):])
            try:
                v = a._xp.broadcast_to(v, region.shape)
            except ValueError:
                v = None  # (not broadcastable: the write below raises the error)
            if v is not None and same_memory(v, region):
                return
            if v is not None:
                check_no_partial_overlap("setitem", region, v)
        check_no_internal_overlap("setitem", region)
    if isinstance(value, Tensor) and value.array.__class__ is not a.array.__class__:
        if a._xp is np:  # a CUDA value into a CPU tensor: an error (no silent device-to-host read)
            check_same_device("setitem", (a, value))
        v = a._xp.asarray(value.array)  # a CPU value into a CUDA tensor: copied over, as in PyTorch
    else:
        v = value.array if isinstance(value, Tensor) else value
    try:
        _write(a.array, idx, _torch_order(idx), v)
    except IndexError as e:
        raise IndexError(f"setitem: index {index!r} is invalid for a tensor of shape {tuple(a.shape)}: {e}") from None
    a._bump()
