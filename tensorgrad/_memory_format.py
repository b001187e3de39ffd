"""torch's memory formats: contiguous_format, channels_last (NHWC order of a 4-d NCHW tensor), channels_last_3d
(NDHWC of 5-d) and preserve_format. A tensor's format is only the order of its elements in memory (its strides): the
values, shapes and every result are the same in every format, so vision code that asks for channels_last (``x =
x.contiguous(memory_format=torch.channels_last)``, ``model.to(memory_format=torch.channels_last)``) runs, reports
the strides and ``is_contiguous(memory_format=...)`` torch reports, and computes what torch computes. NumPy's
elementwise ops keep their input's order ('K'), as torch's do for channels_last; tensorgrad's kernels take any
strides (copying where they need rows)."""
from .backend import xp_of
from ._size import torch_alias_installed


class memory_format:  # noqa: N801 - torch's name
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return ("torch." if torch_alias_installed() else "tensorgrad.") + self.name

    def __reduce__(self):
        return (_by_name, (self.name,))


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")
_FORMATS = {f.name: f for f in (contiguous_format, channels_last, channels_last_3d, preserve_format)}
# the order of dims from innermost to outermost in memory, torch's compute_channels_last_contiguous_{2,3}d
_INNER_TO_OUTER = {channels_last: (1, 3, 2, 0), channels_last_3d: (1, 4, 3, 2, 0)}
_RANK = {channels_last: 4, channels_last_3d: 5}


def _by_name(name):
    return _FORMATS[name]


def check(fmt, op):
    if fmt is not None and not isinstance(fmt, memory_format):
        raise TypeError(f"{op}: memory_format must be a torch.memory_format (contiguous_format, channels_last, "
                        f"channels_last_3d or preserve_format), got {type(fmt).__name__}")
    return fmt


def check_rank(fmt, ndim, op):
    if fmt in _RANK and ndim != _RANK[fmt]:
        raise RuntimeError(f"{op}: required rank {_RANK[fmt]} tensor to use {fmt.name} format (got a {ndim}-d tensor)")


def is_contiguous_as(array, fmt):
    """Whether the array's strides are those of ``fmt`` (size-1 dims do not count, as in torch)."""
    # (preserve_format asks what contiguous_format does, as torch's is_contiguous answers it; only contiguous()
    # refuses it, in methods.py)
    if fmt is None or fmt is contiguous_format or fmt is preserve_format:
        return bool(array.flags.c_contiguous)
    if array.ndim != _RANK[fmt]:
        return False
    expected, item = 1, array.itemsize
    for d in _INNER_TO_OUTER[fmt]:
        n = array.shape[d]
        if n != 1:
            if array.strides[d] != expected * item:
                return False
            expected *= n
    return True


def permutation(fmt):
    """The permute that takes NCHW (NCDHW) to the memory order of fmt, and its inverse."""
    order = tuple(reversed(_INNER_TO_OUTER[fmt]))
    inverse = tuple(order.index(d) for d in range(len(order)))
    return order, inverse


def layout_array(array, fmt, force=False):
    """The array in memory format fmt: itself when it already is (force: only when its strides are fmt's own, size-1
    dims included, as torch's .to(memory_format=...) asks), else a copy laid out in fmt's order, viewed back in the
    array's dim order. The copy is made with NumPy/CuPy's own C strides in the permuted order, which are torch's
    strides for the format, size-1 and size-0 dims included."""
    if fmt is None or fmt is preserve_format:
        return array
    if is_contiguous_as(array, fmt) and (not force or _own_strides(array, fmt)):
        return array
    xp = xp_of(array)
    if fmt is contiguous_format:
        out = xp.empty(array.shape, array.dtype)
        out[...] = array
        return out
    check_rank(fmt, array.ndim, "to")
    order, inverse = permutation(fmt)
    out = xp.empty(tuple(array.shape[d] for d in order), array.dtype)
    out[...] = array.transpose(order)
    return out.transpose(inverse)


def _own_strides(array, fmt):
    order = tuple(range(array.ndim)) if fmt is contiguous_format else permutation(fmt)[0]
    expected, want = 1, [0] * array.ndim
    for d in reversed(order):
        want[d] = expected * array.itemsize
        expected *= max(array.shape[d], 1)
    return tuple(want) == tuple(array.strides)


def dense(array):
    """torch's is_non_overlapping_and_dense: some order of the dims lays the elements out with no gap or repeat
    (torch keeps such a tensor's strides under preserve_format; in-place overlap checks, tensor.py, ask it too)."""
    expect = array.itemsize
    for st, n in sorted((st, n) for n, st in zip(array.shape, array.strides) if n != 1):
        if st != expect:
            return False
        expect *= n
    return True


def like_array(array, new, fmt):
    """``new`` (a fresh C-ordered array of array's shape) laid out as fmt asks for a result "like" ``array``:
    preserve_format keeps array's order when it is dense, as torch's *_like factories do."""
    if fmt is preserve_format:
        if array.flags.c_contiguous or not dense(array):
            return new
        out = xp_of(new).empty_like(array, dtype=new.dtype)  # (order 'K': array's strides)
        out[...] = new
        return out
    return layout_array(new, fmt)
