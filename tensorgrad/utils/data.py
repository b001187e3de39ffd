"""torch.utils.data for tensorgrad: datasets, samplers, default_collate and a single-process DataLoader.

Names, signatures and semantics follow torch 2.x so training scripts port unchanged. Shuffling draws from a
tensorgrad.Generator (or, with none given, from a fresh seed taken off the default generator each epoch, as torch
does), so tensorgrad.manual_seed makes every epoch's order reproducible; the orders themselves differ from torch's.
num_workers > 0 runs in the main process with a warning: a ported script keeps working, only without parallel loading.
"""
import bisect
import collections.abc
import copy
import itertools
import math
import re
import warnings
from typing import Generic, TypeVar

import numpy as np

from .. import dtypes
from ..ops.movement import stack
from ..factories import randperm
from ..ops.composite import multinomial
from ..random import Generator, default_generator
from ..tensor import Tensor

T_co = TypeVar("T_co", covariant=True)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset", "random_split",
           "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DataLoader", "get_worker_info"]


# ------------------------------------------------------------------------------------------------ datasets
class Dataset(Generic[T_co]):
    """Map-style dataset: subclasses define __getitem__ (and usually __len__)."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """Stream-style dataset: subclasses define __iter__."""

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample i is (t[i] for t in tensors); all tensors must share their first dimension."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        shapes = [tuple(t.shape) for t in tensors]
        if any(len(s) == 0 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: all must have the same size in dim 0, "
                             f"got shapes {shapes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets end to end; index i is found by bisecting the running lengths."""

    @staticmethod
    def cumsum(sequence):
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for a dataset of length {n}")
        idx = idx + n if idx < 0 else idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[d][idx - (self.cumulative_sizes[d - 1] if d else 0)]


class ChainDataset(IterableDataset):
    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


def _generator(generator, where):
    """``generator``; with None, a fresh one seeded from the default generator (one draw, like torch), so each
    epoch differs yet manual_seed fixes them all."""
    if generator is None:
        generator = Generator(seed=int(default_generator.integers(0, 2 ** 63, ())))
    elif not isinstance(generator, Generator):
        raise TypeError(f"{where}: generator must be a tensorgrad.Generator, got {type(generator).__name__}")
    return generator


def _randperm(n, generator):
    return randperm(n, generator=generator).tolist()


def random_split(dataset, lengths, generator=default_generator):
    """Non-overlapping random Subsets of the given lengths, or of fractions summing to 1 (floor, then the
    remainder handed out one at a time round-robin, as torch does)."""
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1 (got {frac})")
        sizes = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
        lengths = sizes
    if any(length < 0 for length in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths {list(lengths)} does not equal the length of the "
                         f"input dataset ({n})")
    indices = _randperm(n, _generator(generator, "random_split"))
    return [Subset(dataset, indices[end - length:end])
            for end, length in zip(itertools.accumulate(lengths), lengths)]


# ------------------------------------------------------------------------------------------------ collate
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
        return Tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):
        return Tensor(batch)
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


# ------------------------------------------------------------------------------------------------ samplers
def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


class Sampler(Generic[T_co]):
    """Iterates over dataset indices (or lists of them, for batch samplers)."""

    def __init__(self, data_source=None):  # accepted, as torch does, for subclasses that pass it on
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each epoch; with replacement, num_samples independent uniform draws."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self._num_samples, self.generator = (data_source, replacement,
                                                                                 num_samples, generator)
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got replacement={replacement}")
        _check_positive("num_samples", self.num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, gen = len(self.data_source), _generator(self.generator, "RandomSampler")
        if self.replacement:
            yield from gen.integers(0, n, (self.num_samples,)).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from _randperm(n, gen)
        yield from _randperm(n, gen)[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        for i in _randperm(len(self.indices), _generator(self.generator, "SubsetRandomSampler")):
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Index i drawn with probability weights[i] / sum(weights)."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _check_positive("num_samples", num_samples)
        if not isinstance(replacement, bool):
            raise ValueError(f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1-d sequence, got shape {w.shape}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without replacement from "
                             f"{np.count_nonzero(w)} non-zero weights")
        self.weights, self.num_samples, self.replacement, self.generator = w, num_samples, replacement, generator

    def __iter__(self):
        gen = _generator(self.generator, "WeightedRandomSampler")
        yield from multinomial(Tensor._make(self.weights, None), self.num_samples, self.replacement, gen).tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices (or a stream's samples) into lists of batch_size (the last one shorter
    unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        _check_positive("batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# ------------------------------------------------------------------------------------------------ loader
def get_worker_info():
    """Always None: everything loads in the main process (what torch returns there too)."""
    return None


class DataLoader:
    """Batches from a dataset, in the main process. pin_memory, timeout, worker_init_fn, multiprocessing_context
    and in_order are accepted and have no effect; num_workers > 0 warns and loads in the main process."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("DataLoader: num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("DataLoader: timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified with num_workers > 0")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if num_workers > 0:
            warnings.warn(f"DataLoader: num_workers={num_workers} is not supported by tensorgrad; loading in the "
                          "main process instead (as num_workers=0)", stacklevel=2)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, "
                                     f"but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last, self.generator = dataset, batch_size, drop_last, generator
        self.sampler, self.batch_sampler, self.num_workers = sampler, batch_sampler, num_workers
        self.pin_memory, self.timeout, self.worker_init_fn = pin_memory, timeout, worker_init_fn
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __iter__(self):
        if self._iterable:
            if self.batch_size is None:
                return (self.collate_fn(x) for x in self.dataset)
            return (self.collate_fn(b) for b in BatchSampler(self.dataset, self.batch_size, self.drop_last))
        if not self._auto_collation:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        return (self.collate_fn(self._fetch(indices)) for indices in self.batch_sampler)

    def _fetch(self, indices):
        if getattr(self.dataset, "__getitems__", None):  # a dataset may fetch a whole batch at once
            return self.dataset.__getitems__(indices)
        return [self.dataset[i] for i in indices]

    def __len__(self):
        if self._iterable:  # as torch: the stream's own length, batched; a stream may not know it (TypeError)
            n = len(self.dataset)
            return n if self.batch_size is None else len(BatchSampler(range(n), self.batch_size, self.drop_last))
        return len(self.batch_sampler if self._auto_collation else self.sampler)
