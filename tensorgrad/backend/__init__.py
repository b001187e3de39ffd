"""Device abstraction: the only place that imports numpy/cupy by name.

Ops are written once against ``xp`` (numpy or cupy); ``get_xp(device)`` and ``xp_of(array)``
hand them the right module.
"""
import numpy as np

_cupy = None
_cupy_checked = False


def cupy():
    """Return the cupy module, or None if it is not installed or no GPU is usable."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy as cp
            if cp.cuda.runtime.getDeviceCount() > 0:
                _cupy = cp
        except Exception:
            _cupy = None
    return _cupy


def cuda_available():
    return cupy() is not None


class Device:
    """'cpu' or 'cuda[:N]'. Compared by value; hashable."""
    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string like 'cpu' or 'cuda:0', got {spec!r}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda", "meta"):
            raise ValueError(f"device: unknown device type {spec!r}; expected 'cpu', 'cuda' or 'cuda:N'")
        if kind in ("cpu", "meta") and idx:
            raise ValueError(f"device: {kind!r} takes no index, got {spec!r}")
        if idx and not idx.isdigit():  # 'cuda:x', 'cuda:-1': int() would raise a bare "invalid literal"
            raise ValueError(f"device: bad device index in {spec!r}; expected 'cuda:N' with N >= 0")
        self.type = kind
        self.index = int(idx) if idx else (index if index is not None else (0 if kind == "cuda" else None))

    def __eq__(self, other):
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"

    # `with tensorgrad.device("cuda"):` makes it the default device of the factories inside, as torch's does
    def __enter__(self):
        _entered.append(_default_device[0])
        _default_device[0] = self
        return self

    def __exit__(self, *exc):
        _default_device[0] = _entered.pop()


CPU = Device("cpu")
# The device factories use when given none (torch.set_default_device); the saved defaults of open `with device:`
_default_device = [CPU]
_entered = []


def set_default_device(device):
    _default_device[0] = CPU if device is None else as_device(device)


def get_default_device():
    return _default_device[0]


def as_device(device):
    if device is None:
        return _default_device[0]
    return device if isinstance(device, Device) else Device(device)


def get_xp(device):
    device = as_device(device)
    if device.type == "cpu":
        return np
    if device.type == "meta":
        # torch's shape-only tensors (lazy initialization of big models); the name exists so that code comparing
        # devices with torch.device("meta") runs, but tensorgrad has no tensor without memory
        raise RuntimeError("device meta: tensors on the meta device (shapes without memory) are not supported by "
                           "tensorgrad; create the tensor on 'cpu' or 'cuda'")
    cp = cupy()
    if cp is None:
        raise RuntimeError(f"device {device}: CUDA is not available (CuPy missing or no GPU); install tensorgrad[cuda] on a GPU machine")
    return cp


def xp_of(array):
    """numpy for numpy arrays, cupy for cupy arrays (without importing cupy for CPU work)."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np
    cp = cupy()
    if cp is not None and isinstance(array, cp.ndarray):
        return cp
    return np


def device_of(array):
    if isinstance(array, np.ndarray):
        return CPU
    cp = cupy()
    if cp is not None and isinstance(array, cp.ndarray):
        return Device("cuda", array.device.id)
    return CPU


def to_device(array, device):
    """Move an array to ``device`` (no-op if already there)."""
    device = as_device(device)
    if device.type == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return array.get()
    cp = get_xp(device)
    with cp.cuda.Device(device.index):
        return cp.asarray(array)
