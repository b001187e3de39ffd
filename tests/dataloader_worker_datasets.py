"""Datasets for tests/test_dataloader_workers.py, in a module of their own so 'spawn' workers can unpickle them by
reference without importing torch (a spawn child imports what the pickled dataset names). `lib` / `data` are the
tensorgrad or torch modules, so one class serves both libraries."""
import collections
import os
import random
import signal
import time

import numpy as np

Point = collections.namedtuple("Point", "x y")


class Kinds:
    """Samples of every kind default_collate handles: tensors of several dtypes, NumPy arrays and scalars, numbers,
    strings, dicts, namedtuples."""

    def __init__(self, lib, n=23):
        self.lib, self.n = lib, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        lib, rng = self.lib, np.random.default_rng(i)
        x = rng.standard_normal((2, 3)).astype(np.float32)
        return {"f32": lib.tensor(x), "f16": lib.tensor(x).half(), "i8": lib.tensor([i % 100, -1], dtype=lib.int8),
                "bool": lib.tensor([i % 2 == 0]), "i64": lib.tensor(i), "np": x.astype(np.float64),
                "np_i32": np.arange(i, i + 2, dtype=np.int32), "np_scalar": np.float32(i / 3), "float": i / 7,
                "int": i, "str": f"s{i}", "pair": (lib.tensor(x[0]), i), "point": Point(i, lib.tensor(float(i)))}


class Indexed:
    """Item i is i (and, with echo_worker, the worker that loaded it)."""

    def __init__(self, n, echo_worker=False, sleep=0.0):
        self.n, self.echo_worker, self.sleep, self.offset = n, echo_worker, sleep, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.sleep:
            time.sleep(self.sleep)
        if not self.echo_worker:
            return i + self.offset
        return i + self.offset, os.getpid()


class Randomness:
    """What a worker's random modules give: worker info, Python's random, NumPy's legacy global RNG, the framework's
    default generator."""

    def __init__(self, lib, get_worker_info):
        self.lib, self.get_worker_info = lib, get_worker_info

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = self.get_worker_info()
        return {"id": info.id, "num_workers": info.num_workers, "seed": info.seed, "same_dataset": info.dataset is self,
                "random": random.random(), "numpy": float(np.random.rand()), "lib": float(self.lib.rand(()).item())}


def sharded_stream(base, get_worker_info):
    """torch's documented IterableDataset example: each worker yields its own slice of range(start, end)."""

    class Stream(base):
        def __init__(self, start, end, shard=True, length=None):
            self.start, self.end, self.shard, self.length = start, end, shard, length

        def __iter__(self):
            info = get_worker_info()
            lo, hi = self.start, self.end
            if info is not None and self.shard:
                per = -(-(hi - lo) // info.num_workers)
                lo = lo + info.id * per
                hi = min(lo + per, self.end)
            return iter(range(lo, hi))

        def __len__(self):
            if self.length is None:
                raise TypeError("no length")
            return self.length

    return Stream


class Failing:
    """Raises exc_type at index bad; with kill set, the worker kills itself there instead (signal or exit code)."""

    def __init__(self, n, bad, exc_type=ValueError, kill=None):
        self.n, self.bad, self.exc_type, self.kill = n, bad, exc_type, kill

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.bad:
            if self.kill == "signal":
                os.kill(os.getpid(), signal.SIGKILL)
            elif self.kill == "exit":
                os._exit(3)
            raise self.exc_type(f"bad item {i}")
        return i


class Big:
    """Samples of 192 KiB (a batch of 4 is 768 KiB: shared memory's side of the threshold) and their index."""

    def __len__(self):
        return self.n

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return np.full((3, 128, 128), i, np.float32), i
