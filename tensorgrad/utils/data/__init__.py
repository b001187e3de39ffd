"""torch.utils.data for tensorgrad: datasets, samplers, default_collate, a single-process DataLoader and
DistributedSampler, in torch's submodules (dataset, sampler, dataloader, distributed, _utils.collate) so both
`from tensorgrad.utils.data import DataLoader` and `from tensorgrad.utils.data.dataloader import DataLoader` work.

Names, signatures and semantics follow torch 2.x so training scripts port unchanged. Shuffling draws from a
tensorgrad.Generator (or, with none given, from a fresh seed taken off the default generator each epoch, as torch
does), so tensorgrad.manual_seed makes every epoch's order reproducible; the orders themselves differ from torch's.
num_workers > 0 runs in the main process with a warning: a ported script keeps working, only without parallel loading.
"""
from ._utils.collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader",
           "get_worker_info"]
