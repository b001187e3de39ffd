"""DistributedSampler: each of num_replicas processes reads its own share of a dataset (torch.utils.data.distributed).

The partition is torch's: the index list (a permutation seeded with seed + epoch, or 0..n-1 without shuffle) is padded
by repeating its head up to a multiple of num_replicas (or cut down to one, with drop_last), and rank r takes every
num_replicas-th index from position r. The permutation itself comes from tensorgrad's generator, so it differs from
torch's for the same seed; with shuffle=False the shares are identical to torch's.
"""
import math

from ...random import Generator
from ._utils import _randperm
from .sampler import Sampler

try:  # the process group, where a tensorgrad.distributed exists; without one, num_replicas and rank must be given
    import tensorgrad.distributed as _dist
except ModuleNotFoundError as e:
    if e.name != "tensorgrad.distributed":
        raise
    _dist = None

__all__ = ["DistributedSampler"]


def _from_process_group(what):
    getter = {"num_replicas": "get_world_size", "rank": "get_rank"}[what]
    initialized = getattr(_dist, "is_initialized", None)
    if _dist is None or not hasattr(_dist, getter) or initialized is None or not initialized():
        raise RuntimeError(f"DistributedSampler: {what} was not given and there is no initialized process group to "
                           f"take it from; pass num_replicas= and rank= explicitly (or call "
                           f"tensorgrad.distributed.init_process_group first, where available)")
    return getattr(_dist, getter)()


class DistributedSampler(Sampler):
    """Rank ``rank``'s indices out of ``num_replicas``; call set_epoch(e) before each epoch to reshuffle."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = _from_process_group("num_replicas")
        if rank is None:
            rank = _from_process_group("rank")
        if not isinstance(num_replicas, int) or isinstance(num_replicas, bool) or num_replicas <= 0:
            raise ValueError(f"DistributedSampler: num_replicas should be a positive integer, got {num_replicas!r}")
        if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank, self.epoch, self.drop_last = (dataset, num_replicas, rank, 0,
                                                                                 drop_last)
        n = len(dataset)
        # drop_last with an uneven split: the largest share every rank can fill; otherwise round up and pad
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle, self.seed = shuffle, seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:  # every rank draws the same permutation: same seed + epoch, its own generator
            indices = _randperm(n, Generator(seed=self.seed + self.epoch))
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:  # fewer samples than replicas: repeat the whole list as often as needed
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch seeds the next shuffle (seed + epoch), so each epoch's order differs yet all ranks agree."""
        self.epoch = epoch
