"""Checkpoint files: safetensors only (never pickle), written atomically.

A checkpoint is one ``.safetensors`` file holding named arrays plus a JSON document (config, tokenizer,
iteration, RNG states, optimizer hyper-parameters) stored as the string ``__metadata__["tensorgrad"]`` of the
safetensors header, so arrays and metadata can never get out of step. ``save_checkpoint`` also writes the
same JSON next to it (``<name>.json``) for people and tools; ``load_checkpoint`` reads only the
safetensors file.

Writes go to a temporary file in the same directory, are fsync'ed, then ``os.replace``d over the target
(and the directory fsync'ed), so a crash leaves either the old or the new file, never a torn one.

Reading validates the header by hand before handing the bytes to safetensors: a truncated, oversized or
hostile file raises ``CheckpointError`` with the path and what is wrong, never an obscure crash or a
huge allocation.
"""
import json
import math
import os
import struct
import tempfile

import numpy as np
import safetensors
import safetensors.numpy

from . import dtypes

from .tensor import Tensor

MAX_HEADER = 100 * 1024 * 1024
_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
           "U16": 2, "U32": 4, "U64": 8}


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or not a tensorgrad checkpoint."""


def atomic_write_bytes(path, data):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # A writer killed mid-write (SIGKILL, power loss) leaves its temp file behind; the next successful write
    # of the same path removes those. One writer per path is assumed (as for the checkpoint itself).
    prefix = "." + os.path.basename(path) + "."
    for name in os.listdir(d):
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass
    try:  # make the rename itself durable
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def safetensors_bytes(arrays, metadata=None):
    """arrays: {name: numpy array}; metadata: {str: str} for the header's __metadata__ -> the file's bytes."""
    # np.require, not np.ascontiguousarray, which turns a 0-d array into shape (1,)
    return safetensors.numpy.save({k: np.require(v, requirements="C") for k, v in arrays.items()}, metadata=metadata)


def save_safetensors(path, arrays, meta=None):
    """arrays: {name: numpy array}; meta: JSON-able dict (stored in the header)."""
    atomic_write_bytes(path, safetensors_bytes(arrays, None if meta is None else {"tensorgrad": json.dumps(meta)}))


def _validate(path, buf):
    n = len(buf)
    if n < 8:
        raise CheckpointError(f"{path}: not a safetensors checkpoint: the file has only {n} bytes (truncated?)")
    hlen = struct.unpack("<Q", buf[:8])[0]
    if hlen > MAX_HEADER or 8 + hlen > n:
        raise CheckpointError(f"{path}: not a valid safetensors checkpoint: header length {hlen} does not fit in "
                              f"the file of {n} bytes (truncated or corrupt)")
    try:
        header = json.loads(bytes(buf[8:8 + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:  # RecursionError: '[[[[...' bombs
        raise CheckpointError(f"{path}: not a valid safetensors checkpoint: the header is not JSON "
                              f"({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a valid safetensors checkpoint: the header is not a JSON object")
    body = n - 8 - hlen
    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise CheckpointError(f"{path}: corrupt safetensors header: __metadata__ must map strings to strings")
            continue
        try:
            dt, shape, (a, b) = info["dtype"], info["shape"], info["data_offsets"]
            # exact Python ints (no int64 wrap-around, no bool/float dims): a hostile shape can't fake a size
            ints = all(type(v) is int for v in (*shape, a, b))
            ok = ints and all(s >= 0 for s in shape) and 0 <= a <= b and b - a == _DTYPES[dt] * math.prod(shape)
        except (KeyError, TypeError, ValueError):
            ok, b = False, 0
        if not ok:
            raise CheckpointError(f"{path}: corrupt safetensors header: bad entry for tensor {name!r}: "
                                  f"{repr(info)[:200]}")
        if int(b) > body:
            raise CheckpointError(f"{path}: truncated checkpoint: tensor {name!r} needs bytes up to {int(b)} of the "
                                  f"data section but the file holds only {body} (the write was probably cut short)")
        end_max = max(end_max, int(b))
    return header


def read_file(path):
    """The bytes of a checkpoint file; CheckpointError when there is none."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint file here") from None


_NP_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": dtypes.bfloat16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "U16": np.uint16,
              "U32": np.uint32, "U64": np.uint64}


def _bf16(v):
    """One deserialized safetensors entry as a NumPy array; BF16 as tensorgrad.bfloat16 (safetensors.numpy has no
    BF16; its save writes ml_dtypes' bfloat16 as BF16, as torch's safetensors files store it)."""
    return np.frombuffer(v["data"], dtype=_NP_DTYPES[v["dtype"]]).reshape(v["shape"])


def parse_safetensors(buf, path):
    """Validated bytes of a safetensors file -> (arrays: {name: numpy array}, __metadata__: {str: str}).
    ``path`` only names the file in errors."""
    header = _validate(path, buf)
    try:
        arrays = {k: _bf16(v) for k, v in safetensors.deserialize(bytes(buf))}
    except Exception as e:  # safetensors' own checks (overlaps, alignment...)
        raise CheckpointError(f"{path}: not a valid safetensors checkpoint ({type(e).__name__}: {e})") from None
    return arrays, header.get("__metadata__") or {}


def load_safetensors(path):
    """-> (arrays: {name: numpy array}, meta: dict or None). Raises CheckpointError on a bad file."""
    arrays, md = parse_safetensors(read_file(path), path)
    meta = None
    if "tensorgrad" in md:
        try:
            meta = json.loads(md["tensorgrad"])
        except (json.JSONDecodeError, RecursionError) as e:
            raise CheckpointError(f"{path}: corrupt checkpoint metadata ({type(e).__name__}: {str(e)[:200]})") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path}: corrupt checkpoint metadata: a JSON {type(meta).__name__}, not an object")
    return arrays, meta


# ------------------------------------------------------------------------------ model + optimizer checkpoints
def _np(x):
    if isinstance(x, Tensor):
        x = x.array
    if hasattr(x, "get") and not isinstance(x, np.ndarray):
        x = x.get()
    return np.asarray(x)


def _is_array(x):
    return isinstance(x, (Tensor, np.ndarray)) or (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "get"))


def flatten_optimizer_state(sd):
    """PyTorch-style optimizer state_dict -> ({name: array}, JSON-able dict). Arrays in per-parameter state
    go to the tensor file under 'optim.<param index>.<key>'; everything else stays in JSON."""
    arrays, state_json = {}, {}
    for pid, st in sd.get("state", {}).items():
        entry = {}
        for k, v in st.items():
            if _is_array(v):
                arrays[f"optim.{pid}.{k}"] = _np(v)
                entry[k] = {"__tensor__": f"optim.{pid}.{k}", "scalar": _np(v).ndim == 0}
            else:
                entry[k] = v
        state_json[str(pid)] = entry
    return arrays, {"state": state_json, "param_groups": sd.get("param_groups", [])}


def unflatten_optimizer_state(arrays, js):
    state = {}
    for pid, entry in js["state"].items():
        st = {}
        for k, v in entry.items():
            if isinstance(v, dict) and "__tensor__" in v:
                st[k] = Tensor._from(np.array(arrays[v["__tensor__"]]))
            else:
                st[k] = v
        state[int(pid)] = st
    return {"state": state, "param_groups": js["param_groups"]}


def save_checkpoint(path, model_state, optimizer_state=None, meta=None, write_json=True):
    """model_state: {name: Tensor/array}; optimizer_state: optimizer.state_dict(); meta: JSON-able dict."""
    arrays = {f"model.{k}": _np(v) for k, v in model_state.items()}
    meta = dict(meta or {})
    meta["format"] = "tensorgrad-checkpoint-1"
    if optimizer_state is not None:
        oarr, ojs = flatten_optimizer_state(optimizer_state)
        arrays.update(oarr)
        meta["optimizer"] = ojs
    save_safetensors(path, arrays, meta)
    if write_json:
        atomic_write_bytes(os.path.splitext(path)[0] + ".json", json.dumps(meta, indent=1).encode("utf-8"))


def load_checkpoint(path):
    """-> (model_state {name: numpy array}, optimizer_state dict or None, meta dict)."""
    arrays, meta = load_safetensors(path)
    if not meta or meta.get("format") != "tensorgrad-checkpoint-1":
        raise CheckpointError(f"{path}: a safetensors file, but not a tensorgrad checkpoint (no tensorgrad metadata)")
    model = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        opt = unflatten_optimizer_state(arrays, meta["optimizer"]) if "optimizer" in meta else None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path}: corrupt optimizer state in the checkpoint metadata "
                              f"({type(e).__name__}: {e})") from None
    return model, opt, meta
