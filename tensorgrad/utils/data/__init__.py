"""torch.utils.data for tensorgrad: datasets, samplers, default_collate, a DataLoader (loading in the main process or
in worker processes) and DistributedSampler, in torch's submodules (dataset, sampler, dataloader, distributed,
_utils.collate, _utils.worker) so both `from tensorgrad.utils.data import DataLoader` and
`from tensorgrad.utils.data.dataloader import DataLoader` work.

Names, signatures and semantics follow torch 2.x so training scripts port unchanged. Shuffling draws from a
tensorgrad.Generator (or, with none given, from a fresh seed taken off the default generator each epoch, as torch
does), so tensorgrad.manual_seed makes every epoch's order reproducible; the orders themselves differ from torch's.
num_workers > 0 loads in worker processes (Python's multiprocessing), with torch's worker semantics: get_worker_info,
worker seeding, prefetching, persistent workers, errors re-raised with the worker's traceback.
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
