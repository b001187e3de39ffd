"""Size: the type of ``Tensor.shape`` and ``Tensor.size()``, a tuple of ints as torch.Size is.

A tuple subclass, so that everything written for tuples (``x.shape == (2, 3)``, unpacking, ``np.zeros(x.shape)``,
hashing as the equal tuple) keeps working, while public PyTorch code that builds one (``torch.Size([2, 3])``), asks
``isinstance(s, torch.Size)``, calls ``s.numel()`` or prints a shape sees torch's. It prints as ``torch.Size([2, 3])``
under the torch alias (tensorgrad.compat), where a script's output should be torch's, and as the tuple ``(2, 3)``
otherwise (tensorgrad's own messages, which format shapes freely, read as before).
"""
import operator
import sys


class Size(tuple):
    __slots__ = ()

    def __new__(cls, sizes=()):
        if hasattr(sizes, "tolist") and not isinstance(sizes, (tuple, list)):  # a 1-d tensor or array of sizes
            sizes = sizes.tolist()
        items = []
        for i, s in enumerate(sizes):
            try:
                items.append(operator.index(s))
            except TypeError:
                if hasattr(s, "item") and getattr(s, "ndim", 1) == 0:  # a 0-d integer tensor, as torch takes
                    v = s.item()
                    if isinstance(v, int) and not isinstance(v, bool):
                        items.append(v)
                        continue
                raise TypeError(f"Size() takes an iterable of 'int' (item {i} is {type(s).__name__!r})") from None
        return tuple.__new__(cls, items)

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, i):
        r = tuple.__getitem__(self, i)
        return tuple.__new__(Size, r) if isinstance(i, slice) else r

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return tuple.__new__(Size, tuple.__add__(other, self))

    def __mul__(self, n):
        return tuple.__new__(Size, tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self):
        if torch_alias_installed():
            return f"torch.Size({list(self)})"
        return tuple.__repr__(self)

    __str__ = __repr__

    def __reduce__(self):
        return (Size, (tuple(self),))


def torch_alias_installed():
    """Whether tensorgrad.compat's torch alias is on in this process (looked up, not imported: compat is a layer above),
    which decides how Size and memory formats print."""
    compat = sys.modules.get("tensorgrad.compat")
    return compat is not None and compat.is_installed()


# The shape property's constructor: array shapes are tuples of ints already, so no per-item check
make_size = tuple.__new__
