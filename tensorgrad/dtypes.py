"""dtypes are numpy dtype objects; these names mirror PyTorch's. bfloat16 is ml_dtypes' NumPy extension type (kind
'V', so np.issubdtype(bfloat16, np.floating) is False: ask is_float instead)."""
import ml_dtypes
import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
bfloat16 = np.dtype(ml_dtypes.bfloat16)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = bool_ = np.dtype(np.bool_)
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)
# torch's complex32 / chalf: NumPy has no complex of two float16, so it is refused by name (to_dtype)
complex32 = chalf = "complex32"

_default = float32


def is_float(dtype):
    """Whether a dtype is floating point (the only kind that carries gradients); bfloat16 included. Called on every
    op's dispatch, so the dtype's kind is read directly (np.issubdtype cost a microsecond per op)."""
    kind = getattr(dtype, "kind", None)
    if kind is None:  # a scalar type (np.float32) or a name rather than a dtype
        dtype = np.dtype(dtype)
        kind = dtype.kind
    return kind == "f" or dtype == bfloat16


def is_complex(dtype):
    """complex64 or complex128."""
    return np.dtype(dtype).kind == "c"


def to_complex(dtype, op="to_complex"):
    """torch's toComplexType: the complex dtype whose parts are ``dtype`` (float32 -> complex64, float64 ->
    complex128; a complex dtype stays itself). float16's would be complex32, which tensorgrad does not have."""
    d = np.dtype(dtype)
    if d.kind == "c":
        return d
    if d == float64:
        return complex128
    if d == float32 or d == bfloat16:
        return complex64
    if d == float16:
        raise TypeError(f"{op}: the result would be complex32 (float16's complex type, torch.chalf), which tensorgrad "
                        "does not support; use float32 / complex64")
    raise TypeError(f"{op}: {d} has no complex counterpart")


def to_real(dtype):
    """The dtype of a complex dtype's parts (complex64 -> float32); a real dtype stays itself."""
    d = np.dtype(dtype)
    return d if d.kind != "c" else (float32 if d == complex64 else float64)


def default_complex():
    """The complex dtype of Python complex numbers: the default float dtype's (complex64 under float32)."""
    return complex128 if _default == float64 else complex64


def is_half(dtype):
    """float16 or bfloat16: the dtypes computed in float32 and rounded once (PyTorch's opmath type)."""
    return dtype == float16 or dtype == bfloat16


def get_default_dtype():
    return _default


def set_default_dtype(d):
    global _default
    d = to_dtype(d)
    if not is_float(d):
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default = d


_BY_NAME = {"float16": float16, "half": float16, "float32": float32, "float": float32, "float64": float64,
            "double": float64, "int64": int64, "long": int64, "int32": int32, "int": int32, "int16": int16,
            "int8": int8, "uint8": uint8, "bool": bool_, "bfloat16": bfloat16, "complex64": complex64,
            "cfloat": complex64, "complex128": complex128, "cdouble": complex128, "complex32": None, "chalf": None}


def to_dtype(d):
    """Accept a numpy dtype, a Python/numpy type, a name ('float32'), or a torch dtype (by its name)."""
    if d is None:
        return None
    if isinstance(d, np.dtype):
        return d
    if isinstance(d, str) or type(d).__name__ == "dtype":
        name = str(d).replace("torch.", "").replace("tensorgrad.", "")
        if name in _BY_NAME:
            if _BY_NAME[name] is None:
                raise TypeError(f"dtype {name}: not supported by the NumPy backend (NumPy has no complex of two "
                                "float16; use complex64)")
            return _BY_NAME[name]
    try:
        out = np.dtype(d)
    except TypeError:
        raise TypeError(f"unknown dtype {d!r}") from None
    if out.kind == "c" and out.itemsize > 16:  # (np.clongdouble: torch has no such dtype)
        raise TypeError(f"dtype {out}: not supported (the complex dtypes are complex64 and complex128)")
    return out


def can_cast(from_, to):
    """torch.can_cast: whether an op's result of dtype from_ may be written into a tensor of dtype to (in-place ops,
    out=): not floating into integer or bool, not integer into bool; any float width into any float."""
    f, t = to_dtype(from_), to_dtype(to)
    if t == bool_:
        return f == bool_
    if f.kind == "c" and t.kind != "c":
        return False
    if is_float(f) and not (is_float(t) or t.kind == "c"):
        return False
    return True


def finfo(dtype=None):
    """torch.finfo: bits, eps, max, min, tiny (smallest_normal), resolution of a floating dtype (the default dtype
    when none is given); bfloat16's from ml_dtypes."""
    d = _default if dtype is None else to_dtype(dtype)
    if d.kind == "c":  # (torch: a complex dtype's finfo is its parts')
        d = to_real(d)
    if not is_float(d):
        raise TypeError(f"finfo: expected a floating point dtype, got {d} (use iinfo for integer dtypes)")
    return ml_dtypes.finfo(d)


def iinfo(dtype):
    """torch.iinfo: bits, max, min of an integer dtype (bool refused, as torch)."""
    d = to_dtype(dtype)
    if d.kind not in "iu":
        raise TypeError(f"iinfo: expected an integer dtype, got {d} (use finfo for floating dtypes)")
    return np.iinfo(d)


def name(d):
    return {np.dtype(np.bool_): "bool"}.get(d, str(d))
