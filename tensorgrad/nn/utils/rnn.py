"""torch.nn.utils.rnn: PackedSequence and the helpers that pad, pack and unpack batches of variable-length
sequences, with torch's names, arguments, defaults, results and checks.

A PackedSequence holds the steps of B sequences sorted by decreasing length, time-major: data row by row is
step 0 of every sequence, then step 1 of those at least 2 long, ...; batch_sizes[t] is how many sequences are still
running at step t. The helpers move rows with integer-array indices worked out in NumPy on the host (one gather
per result, its gradient one scatter-add into the source), so gradients reach the data as torch's do."""
from typing import NamedTuple, Optional

import numpy as np

from ... import dtypes
from ...ops.movement import cat, expand, getitem, transpose
from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor]
    unsorted_indices: Optional[Tensor]


class PackedSequence(PackedSequence_):
    """data (sum(batch_sizes), *), batch_sizes (an int64 CPU tensor, one entry per step), sorted_indices (the
    original batch position of each sorted column, or None when the input was already sorted) and unsorted_indices
    (its inverse). Made by pack_padded_sequence / pack_sequence; RNN, LSTM and GRU take and return it."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            # torch's other spelling, PackedSequence((data, batch_sizes), sorted_indices=...)
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError("PackedSequence: without batch_sizes, data must be a (data, batch_sizes) pair, got "
                                f"{type(data).__name__}")
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            raise TypeError("PackedSequence: batch_sizes must be an int64 CPU Tensor, got "
                            f"{type(batch_sizes).__name__}")
        if batch_sizes.device.type != "cpu":
            raise ValueError(f"PackedSequence: batch_sizes should always be on CPU, got {batch_sizes.device}; build "
                             "packed sequences with pack_padded_sequence or pack_sequence")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """data.to(*args, **kwargs); the indices follow data to its device, batch_sizes stays on the CPU. self when
        data needs no conversion."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = lambda t: None if t is None else t.to(data.device)  # noqa: E731
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cuda(self, device=None):
        return self.to(device="cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def cpu(self):
        return self.to(device="cpu")

    def double(self):
        return self.to(dtype=dtypes.float64)

    def float(self):
        return self.to(dtype=dtypes.float32)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def long(self):
        return self.to(dtype=dtypes.int64)

    def int(self):
        return self.to(dtype=dtypes.int32)

    def short(self):
        return self.to(dtype=dtypes.int16)

    def char(self):
        return self.to(dtype=dtypes.int8)

    def byte(self):
        return self.to(dtype=dtypes.uint8)

    def pin_memory(self):
        pin = lambda t: None if t is None else t.pin_memory()  # noqa: E731
        return type(self)(self.data.pin_memory(), self.batch_sizes, pin(self.sorted_indices),
                          pin(self.unsorted_indices))

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return self.data.is_pinned()


def invert_permutation(permutation):
    """The inverse of a 1-D index permutation (None for None): out[permutation[i]] = i."""
    if permutation is None:
        return None
    xp = permutation._xp
    out = xp.empty_like(permutation.array)
    out[permutation.array] = xp.arange(permutation.array.size, dtype=out.dtype)
    return Tensor._make(out, None)


def _host(t):
    return np.asarray(t)  # a CUDA tensor's __array__ copies it to the host


def _lengths(op, lengths):
    """lengths as an int64 NumPy vector, under torch's rule: a list (or array) is converted, truncating floats; a
    tensor must be 1-D and on the CPU."""
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1 or lengths.device.type != "cpu":
            raise RuntimeError(f"{op}: 'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.ndim}D "
                               f"{lengths.device} {lengths.dtype} tensor")
        return _host(lengths).astype(np.int64)
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise RuntimeError(f"{op}: 'lengths' argument should be a 1-D list of ints or a 1D CPU int64 tensor, got "
                           f"{lengths!r}")
    return arr.astype(np.int64)


def _int64(a):
    return Tensor._make(np.asarray(a, dtype=np.int64), None)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack input (T, B, *) -- (B, T, *) with batch_first -- whose sequence b is lengths[b] steps long. With
    enforce_sorted the lengths must already decrease; otherwise the batch is sorted by decreasing length (stably)
    and the order kept in sorted_indices."""
    op = "pack_padded_sequence"
    lens = _lengths(op, lengths)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise IndexError(f"{op}: input must have at least 2 dims ((T, B, *), or (B, T, *) with batch_first), got "
                         f"shape {tuple(input.shape)}")
    batch_dim = 0 if batch_first else 1
    n, steps = input.shape[batch_dim], input.shape[1 - batch_dim]
    order = None
    if not enforce_sorted:
        # stable, so tied lengths keep their batch order (torch's CPU sort does too for up to 16 sequences)
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        if len(lens) > n:
            raise RuntimeError(f"{op}: {len(lens)} lengths for a batch of {n} sequences (input shape "
                               f"{tuple(input.shape)}, batch_first={batch_first})")
    if input.numel() == 0 or len(lens) == 0:     # (torch's test: a zero-size feature dim is refused too)
        raise RuntimeError(f"{op}: Cannot pack empty tensors (input shape {tuple(input.shape)}, lengths "
                           f"{lens.tolist()})")
    if enforce_sorted and len(lens) != n:
        # torch checks the count only here: unsorted, fewer lengths than sequences packs the first len(lengths)
        raise RuntimeError(f"{op}: Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} "
                           f"(batch_size={n}; input shape {tuple(input.shape)}, batch_first={batch_first})")
    if enforce_sorted and np.any(lens[1:] > lens[:-1]):
        raise RuntimeError(f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is True "
                           f"(got {lens.tolist()}). You can pass `enforce_sorted=False` to pack_padded_sequence "
                           "and/or pack_sequence to sidestep this requirement if you do not need ONNX exportability.")
    if lens[-1] <= 0:
        raise RuntimeError(f"{op}: Length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0 (lengths {lens.tolist()})")
    if lens[0] > steps:
        # torch reads past the input here and returns a PackedSequence whose batch_sizes overcount its data
        raise RuntimeError(f"{op}: a sequence of length {lens[0]} does not fit the input's {steps} steps (input "
                           f"shape {tuple(input.shape)}, batch_first={batch_first})")
    batch_sizes = (lens[None, :] > np.arange(lens[0])[:, None]).sum(1)
    t_idx = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    col = np.arange(len(t_idx)) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    sorted_indices = None
    if order is not None:
        col = order[col]
        sorted_indices = Tensor._make(input._xp.asarray(order.astype(np.int64)), None)
    data = getitem(input, (col, t_idx) if batch_first else (t_idx, col))
    return PackedSequence(data, _int64(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) -- (B, T, *) with batch_first --, lengths as an
    int64 CPU tensor), in the batch order given to pack_padded_sequence; T is total_length when given, else the
    longest length, and the steps past a sequence's end hold padding_value."""
    op = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence_):
        raise TypeError(f"{op}: expected a PackedSequence, got {type(sequence).__name__}")
    data, bs = sequence.data, _host(sequence.batch_sizes).astype(np.int64)
    steps = len(bs)
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {steps}")
        steps = int(total_length)
    n, rows = int(bs[0]), data.shape[0]
    running = np.arange(n)[None, :] < bs[:, None]                   # (T, B): sequence b is at step t
    idx = np.full((steps, n), rows, dtype=np.int64)                 # row `rows` is the padding row appended below
    idx[:len(bs)][running] = ((np.cumsum(bs) - bs)[:, None] + np.arange(n)[None, :])[running]
    lengths = running.sum(0)
    if sequence.unsorted_indices is not None:
        unsorted = _host(sequence.unsorted_indices)
        idx, lengths = idx[:, unsorted], lengths[unsorted]
    if batch_first:
        idx = idx.T
    if (idx == rows).any():
        pad = data._xp.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
        data = cat([data, Tensor._make(pad, None)], 0)
    return getitem(data, idx), _int64(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shapes (L_i, *) into (T, B, *) -- (B, T, *) with batch_first -- with T the longest L_i,
    padding_value filling the steps each lacks, after it (padding_side 'right') or before it ('left'). The result
    has the first sequence's dtype and trailing shape, the others converted and broadcast into it as torch copies
    them."""
    op = "pad_sequence"
    try:
        sequences = tuple(sequences)
    except TypeError:
        raise RuntimeError(f"{op}: Expected iterable for input sequences, but got arg of type: "
                           f"{type(sequences)}") from None
    if not sequences:
        raise RuntimeError(f"{op}: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"{op}: Expected padding_side to be one of left or right, but got {padding_side}.")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"{op}: sequence {i} is a {type(s).__name__}, not a Tensor")
        if s.ndim == 0:
            raise RuntimeError(f"{op}: sequence {i} is 0-d; each sequence must be (L, *)")
    first = sequences[0]
    trail, dt = tuple(first.shape[1:]), first.dtype
    parts = []
    for i, s in enumerate(sequences):
        if s.dtype != dt:
            s = s.to(dt)
        want = (s.shape[0],) + trail
        if tuple(s.shape) != want:
            try:
                s = expand(s, want)
            except (RuntimeError, ValueError):
                raise RuntimeError(f"{op}: sequence {i} of shape {tuple(s.shape)} does not fit the first sequence's "
                                   f"trailing shape {trail} (shapes {[tuple(q.shape) for q in sequences]})") from None
        parts.append(s)
    lens = np.array([s.shape[0] for s in parts], dtype=np.int64)
    steps, total = int(lens.max()), int(lens.sum())
    t = np.arange(steps)[None, :]
    start = (np.cumsum(lens) - lens)[:, None]
    shift = steps - lens[:, None] if padding_side == "left" else 0  # where each sequence's first step lands
    inside = (t >= shift) & (t < shift + lens[:, None])
    idx = np.where(inside, start + t - shift, total)                # (B, T); row `total` is the padding row
    pad = first._xp.full((1,) + trail, padding_value, dtype=dt)
    out = getitem(cat(parts + [Tensor._make(pad, None)], 0), idx)
    return out if batch_first else transpose(out, 0, 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences in a padded batch (T, B, *) -- (B, T, *) with batch_first --: sequence b is its first
    lengths[b] steps, a copy as torch's. torch transposes a time-major padded_sequences in place; this leaves it
    as it was."""
    op = "unpad_sequence"
    x = padded_sequences if batch_first else transpose(padded_sequences, 0, 1)
    lens = _host(lengths) if isinstance(lengths, Tensor) else np.asarray(lengths)
    if lens.ndim != 1 or len(lens) != x.shape[0]:
        raise ValueError(f"{op}: {lens.size} lengths for a batch of {x.shape[0]} sequences (padded shape "
                         f"{tuple(padded_sequences.shape)}, batch_first={batch_first})")
    steps = np.arange(x.shape[1])
    out = []
    for b, length in enumerate(lens):
        keep = steps[steps < length]  # torch's mask `arange(T) < length`: a float length counts partial steps
        out.append(getitem(x, (np.full(len(keep), b), keep)))
    return out


def pack_sequence(sequences, enforce_sorted=True):
    """pad_sequence then pack_padded_sequence: a list of (L_i, *) sequences as a PackedSequence."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """pad_packed_sequence then unpad_sequence: a PackedSequence as the list of its sequences, in the original
    batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
