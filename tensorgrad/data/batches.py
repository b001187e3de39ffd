"""Train/val split and random (x, y) batches, as nanoGPT's get_batch, from a seeded generator whose state
is checkpointed so a resumed run draws the same batches as an uninterrupted one."""
import numpy as np
from ..tensor import Tensor


def train_val_split(ids, train_frac=0.9):
    """First 90% for training, last 10% for validation (nanoGPT's split)."""
    n = int(len(ids) * train_frac)
    return ids[:n], ids[n:]


class BatchSampler:
    """get_batch(split) -> (x, y) int64 Tensors of shape (batch_size, block_size); y is x shifted by one."""

    def __init__(self, train_ids, val_ids, block_size, batch_size, seed=0, device="cpu"):
        self.data = {"train": np.ascontiguousarray(train_ids, dtype=np.int64),
                     "val": np.ascontiguousarray(val_ids, dtype=np.int64)}
        for split, d in self.data.items():
            if len(d) <= block_size:
                raise ValueError(f"BatchSampler: the {split} split has {len(d)} tokens, not enough for block_size "
                                 f"{block_size}; use more text or a smaller --block-size")
        self.block_size, self.batch_size, self.device = block_size, batch_size, device
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._offsets = np.arange(block_size + 1, dtype=np.int64)

    def get_batch(self, split):
        d = self.data[split]
        ix = self.rng.integers(0, len(d) - self.block_size, size=self.batch_size)
        xy = d[ix[:, None] + self._offsets]  # (B, T+1) in one gather
        x, y = np.ascontiguousarray(xy[:, :-1]), np.ascontiguousarray(xy[:, 1:])
        if self.device != "cpu":
            return Tensor._from(x, device=self.device), Tensor._from(y, device=self.device)
        return Tensor._make(x, None), Tensor._make(y, None)

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state
