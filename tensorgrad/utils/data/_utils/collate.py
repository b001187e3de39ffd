"""default_collate / default_convert: samples to batches, following torch.utils.data._utils.collate (values, dtypes
and container types as torch's)."""
import collections.abc
import copy
import re

import numpy as np

from .... import dtypes
from ....ops.movement import stack
from ....tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_NP_STR_OBJ = re.compile(r"[SaUO]")
_COLLATE_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_numpy(x):
    return type(x).__module__ == "numpy" and type(x).__name__ not in ("str_", "bytes_", "string_")


def _rebuild(elem, values):
    """values (a dict or list) in elem's own container type (a copy of elem when mutable, so a defaultdict or
    OrderedDict survives), as torch does; the plain dict/list if that type can't be rebuilt."""
    try:
        if isinstance(elem, (collections.abc.MutableMapping, collections.abc.MutableSequence)):
            clone = copy.copy(elem)
            if isinstance(elem, collections.abc.MutableMapping):
                clone.update(values)
            else:
                clone[:] = values
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def _stack(batch):
    shape = tuple(batch[0].shape)
    for i, t in enumerate(batch):
        if tuple(t.shape) != shape:
            raise RuntimeError(f"default_collate: tensors in a batch must have equal shapes to be stacked, got "
                               f"{shape} at entry 0 and {tuple(t.shape)} at entry {i}")
    if any(t.requires_grad for t in batch):
        return stack(batch, 0)  # keep the graph, as torch.stack does
    return Tensor._make(batch[0]._xp.stack([t.array for t in batch]), None)


def default_collate(batch):
    """Stack a list of samples into a batch: tensors and numpy arrays are stacked along a new dim 0, python floats
    become float64 tensors, ints int64 (bools bool), numpy scalars keep their dtype, strings stay a list; tuples,
    lists, dicts and namedtuples are collated field by field (a tuple of fields comes back as a list, as in torch)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if _is_numpy(elem):
        if isinstance(elem, np.ndarray):
            if _NP_STR_OBJ.search(elem.dtype.str):
                raise TypeError(_COLLATE_ERR.format(elem.dtype))
            return _stack([Tensor._make(np.asarray(b), None) for b in batch])
        return Tensor._make(np.asarray(batch), None)  # numpy scalars keep their dtype
    if isinstance(elem, float):
        return Tensor._from(batch, dtype=dtypes.float64)
    if isinstance(elem, int):
        return Tensor._from(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild(elem, {k: default_collate([d[k] for d in batch]) for k in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(e) != len(elem) for e in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size, got "
                               f"lengths {[len(e) for e in batch]}")
        fields = [default_collate(s) for s in zip(*batch)]  # strings come back as these tuples, as in torch
        return fields if isinstance(elem, tuple) else _rebuild(elem, fields)
    raise TypeError(_COLLATE_ERR.format(type(elem)))


def default_convert(data):
    """Without batching (batch_size=None): numpy arrays/scalars -> tensors, containers converted inside."""
    if isinstance(data, Tensor):
        return data
    if _is_numpy(data):
        if isinstance(data, np.ndarray) and _NP_STR_OBJ.search(data.dtype.str):
            return data
        return Tensor._make(np.asarray(data), None)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild(data, [default_convert(d) for d in data])
    return data
