"""tensorgrad.utils.data vs torch.utils.data: collate results (values, dtypes, container types), dataset indexing,
batch samplers and sequential loaders compared with torch; shuffling and random_split checked by properties (the
orders are ours, not torch's): permutations, seeded reproducibility, differing epochs, disjoint covering splits.
Also the package layout (torch's submodules), the lazy RandomSampler, and DistributedSampler's partition (equal to
torch's without shuffling)."""
import collections
import importlib
import itertools
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as TD

import tensorgrad as tg
import tensorgrad.utils.data as D

torch.set_num_threads(1)
Point = collections.namedtuple("Point", "x y")


def same(a, b):
    """tensorgrad output a equals torch output b: same nesting, container types, tensor dtypes and values."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, tg.Tensor), type(a)
        assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (a.dtype, b.dtype)
        assert a.shape == tuple(b.shape) and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(b, dict):
        assert type(a) is type(b) and list(a) == list(b)
        assert getattr(a, "default_factory", None) is getattr(b, "default_factory", None)
        for k in b:
            same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (type(a), type(b))
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert type(a) is type(b) and a == b


def _sample_kinds(lib, i):
    """Per-sample values of many kinds; lib builds the tensors, so one spec serves both libraries."""
    rng = np.random.default_rng(i)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    return {
        "tensor_f32": lib.tensor(x),
        "tensor_i64_0d": lib.tensor(i),
        "np_f64": x.astype(np.float64), "np_i32": np.arange(i, i + 3, dtype=np.int32), "np_0d": np.array(i * 1.5),
        "np_scalar_f32": np.float32(i / 3), "np_scalar_i32": np.int32(i), "np_bool": np.bool_(i % 2),
        "float": i / 7, "int": i * 11, "bool": bool(i % 2), "str": f"s{i}", "bytes": b"b",
        "tuple": (lib.tensor(x[0]), i), "list": [i, i / 2, "a"], "dict": {"a": i, "b": {"c": lib.tensor(x[1])}},
        "namedtuple": Point(i, lib.tensor(float(i))), "list_of_tuples": [(i, "u"), (i + 1, "v")],
        "defaultdict": collections.defaultdict(list, k=[i]), "ordered": collections.OrderedDict(z=i, a=i / 2),
    }


@pytest.mark.parametrize("kind", list(_sample_kinds(tg, 0)))
@pytest.mark.parametrize("n", [1, 3])
def test_default_collate_matches_torch(kind, n):
    same(D.default_collate([_sample_kinds(tg, i)[kind] for i in range(n)]),
         TD.default_collate([_sample_kinds(torch, i)[kind] for i in range(n)]))


def test_default_collate_whole_dict_samples_and_convert():
    same(D.default_collate([_sample_kinds(tg, i) for i in range(4)]),
         TD.default_collate([_sample_kinds(torch, i) for i in range(4)]))
    for i in range(3):
        same(D.default_convert(_sample_kinds(tg, i)), TD.default_convert(_sample_kinds(torch, i)))


def test_default_collate_keeps_the_graph():
    xs = [tg.randn(3, requires_grad=True) for _ in range(4)]
    out = D.default_collate(xs)
    assert out.shape == (4, 3) and out.requires_grad
    (out * tg.arange(4.0).reshape(4, 1)).sum().backward()
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(x.grad.numpy(), np.full(3, float(i), np.float32))


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match=r"default_collate: .*\(3,\) at entry 0 and \(4,\) at entry 2"):
        D.default_collate([tg.zeros(3), tg.zeros(3), tg.zeros(4)])
    with pytest.raises(RuntimeError, match="equal size"):
        D.default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain .* found <class 'object'>"):
        D.default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate"):
        D.default_collate([np.array(["a"]), np.array(["b"])])


def test_tensor_dataset_subset_concat_match_torch():
    x, y = np.random.default_rng(0).standard_normal((7, 3)), np.arange(7)
    ds, tds = D.TensorDataset(tg.tensor(x), tg.tensor(y)), TD.TensorDataset(torch.tensor(x), torch.tensor(y))
    assert len(ds) == len(tds) == 7
    for i in [0, 3, 6, -1, -7, slice(1, 5), [2, 0, 2]]:
        same(ds[i], tds[i])
    sub, tsub = D.Subset(ds, [5, 1, 1, 0]), TD.Subset(tds, [5, 1, 1, 0])
    assert len(sub) == 4
    for i in [0, 2, -1, [3, 0]]:
        same(sub[i], tsub[i])
    parts = [[0, 1, 2], [], [3], ["a", "b"]]
    cat, tcat = D.ConcatDataset(parts), TD.ConcatDataset(parts)
    assert len(cat) == len(tcat) == 6 and cat.cumulative_sizes == tcat.cumulative_sizes
    assert [cat[i] for i in range(-6, 6)] == [tcat[i] for i in range(-6, 6)]
    assert isinstance(sub + sub, D.ConcatDataset) and len(sub + sub) == 8
    with pytest.raises(IndexError, match="ConcatDataset: index 6 is out of range"):
        cat[6]
    with pytest.raises(IndexError):
        cat[-7]


def test_dataset_errors():
    with pytest.raises(ValueError, match=r"TensorDataset: size mismatch .*\(3, 2\), \(4,\)"):
        D.TensorDataset(tg.zeros(3, 2), tg.zeros(4))
    with pytest.raises(ValueError, match="TensorDataset"):
        D.TensorDataset(tg.tensor(1.0))
    with pytest.raises(ValueError, match="at least one"):
        D.TensorDataset()
    with pytest.raises(ValueError, match="empty"):
        D.ConcatDataset([])
    with pytest.raises(TypeError, match="IterableDataset"):
        D.ConcatDataset([_Stream(3)])
    with pytest.raises(NotImplementedError):
        D.Dataset()[0]


@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False), (2, 5, True),
                                       (0, 2, False), (7, 1, True)])
def test_batch_sampler_matches_torch(n, bs, drop):
    ours, theirs = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop), TD.BatchSampler(range(n), bs, drop)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert list(D.SequentialSampler(range(n))) == list(TD.SequentialSampler(range(n)))


class _Dicts(D.Dataset):
    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "label": i % 3, "name": f"item{i}"}

    def __len__(self):
        return self.n


class _Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter((i, float(i)) for i in range(self.n))

    def __len__(self):
        return self.n


def _loaders(make_ds, **kw):
    ours, theirs = make_ds(tg, D), make_ds(torch, TD)
    return D.DataLoader(ours, **kw), TD.DataLoader(theirs, **kw)


def _tensors(lib, mod):
    return mod.TensorDataset(lib.tensor(np.arange(30.0).reshape(10, 3)), lib.tensor(np.arange(10)))


@pytest.mark.parametrize("kw", [{}, {"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": 5},
                                {"batch_size": None}, {"batch_size": 4, "collate_fn": lambda b: len(b)},
                                {"sampler": [9, 2, 2, 0], "batch_size": 3},
                                {"batch_sampler": [[3, 1], [0], [9, 8, 7]]}])
@pytest.mark.parametrize("make", ["tensors", "dicts", "stream"])
def test_sequential_loader_matches_torch(kw, make):
    if make == "stream" and ("sampler" in kw or "batch_sampler" in kw):
        return
    make_ds = {"tensors": _tensors, "dicts": lambda lib, mod: _Dicts(10) if mod is D else _TorchDicts(10),
               "stream": lambda lib, mod: (_Stream if mod is D else _TorchStream)(10)}[make]
    ours, theirs = _loaders(make_ds, **kw)
    assert len(ours) == len(theirs)
    for _ in range(2):  # a loader can be iterated again
        same(list(ours), list(theirs))


class _TorchDicts(TD.Dataset):
    __getitem__, __len__, __init__ = _Dicts.__getitem__, _Dicts.__len__, _Dicts.__init__


class _TorchStream(TD.IterableDataset):
    __iter__, __len__, __init__ = _Stream.__iter__, _Stream.__len__, _Stream.__init__


def test_num_workers_loads_in_workers():
    # (tests/test_dataloader_workers.py tests the workers themselves)
    loader = D.DataLoader(_tensors(tg, D), batch_size=4, num_workers=2, pin_memory=True, prefetch_factor=2)
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        batches = list(loader)
    same(batches, list(TD.DataLoader(_tensors(torch, TD), batch_size=4)))
    assert D.get_worker_info() is None


def test_loader_errors():
    ds = _tensors(tg, D)
    bad = [({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
           ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
           ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
           ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
           ({"num_workers": -1}, "num_workers option should be non-negative"),
           ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
           ({"prefetch_factor": 2}, "prefetch_factor"), ({"batch_size": 0}, "batch_size should be a positive")]
    for kw, msg in bad:
        with pytest.raises(ValueError, match=msg):
            D.DataLoader(ds, **kw)
        with pytest.raises(ValueError):
            TD.DataLoader(_tensors(torch, TD), **kw)
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified shuffle"):
        D.DataLoader(_Stream(3), shuffle=True)
    with pytest.raises(TypeError, match="DataLoader: generator must be a tensorgrad.Generator"):
        list(D.DataLoader(ds, shuffle=True, generator=torch.Generator()))


def _epochs(loader, n):
    return [np.concatenate([y.numpy() for _, y in loader]).tolist() for _ in range(n)]


def test_shuffle_is_a_fresh_permutation_each_epoch_and_seeded():
    ds = _tensors(tg, D)
    tg.manual_seed(123)
    first = _epochs(D.DataLoader(ds, batch_size=3, shuffle=True), 4)
    for order in first:
        assert sorted(order) == list(range(10))
    assert len({tuple(o) for o in first}) == 4  # 4 equal orders out of 10! would be a broken shuffle
    tg.manual_seed(123)
    assert _epochs(D.DataLoader(ds, batch_size=3, shuffle=True), 4) == first
    g = tg.Generator().manual_seed(7)
    with_gen = _epochs(D.DataLoader(ds, batch_size=4, shuffle=True, generator=g), 3)
    assert _epochs(D.DataLoader(ds, batch_size=4, shuffle=True, generator=tg.Generator().manual_seed(7)), 3) \
        == with_gen and len({tuple(o) for o in with_gen}) == 3
    assert [len(b[1]) for b in D.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True)] == [4, 4]


def test_random_samplers():
    g = tg.Generator().manual_seed(0)
    draws = list(D.RandomSampler(range(5), replacement=True, num_samples=200, generator=g))
    assert len(draws) == 200 and set(draws) == set(range(5))
    more = list(D.RandomSampler(range(4), num_samples=10, generator=g))  # two whole permutations, then 2 more
    assert sorted(more[:4]) == sorted(more[4:8]) == [0, 1, 2, 3] and len(set(more[8:])) == 2
    assert len(D.RandomSampler(range(4), num_samples=10)) == 10 and len(D.RandomSampler(range(4))) == 4
    sub = list(D.SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]
    w = list(D.WeightedRandomSampler([0.0, 1.0, 3.0], 300, generator=g))
    assert set(w) == {1, 2} and 150 < w.count(2) < 280
    assert sorted(D.WeightedRandomSampler([1, 0, 2, 5], 3, replacement=False, generator=g)) == [0, 2, 3]
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        D.RandomSampler(range(0))
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        D.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="without replacement"):
        D.WeightedRandomSampler([1, 0, 1], 3, replacement=False)
    with pytest.raises(ValueError, match="1-d"):
        D.WeightedRandomSampler([[1.0]], 1)


@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (10, [0.3, 0.7]), (30, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]),
                                       (7, [0.2, 0.2, 0.2, 0.2, 0.2]), (5, [5, 0]), (0, [0, 0])])
def test_random_split_sizes_and_disjointness(n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero-length splits warn, in torch too
        parts = D.random_split(range(n), lengths, generator=tg.Generator().manual_seed(1))
        assert [len(p) for p in parts] == [len(p) for p in TD.random_split(range(n), lengths)]
    items = [x for p in parts for x in p]
    assert sorted(items) == list(range(n))
    again = D.random_split(range(n), lengths, generator=tg.Generator().manual_seed(1))
    assert [list(p) for p in again] == [list(p) for p in parts]


def test_random_split_default_generator_and_errors():
    tg.manual_seed(5)
    a = [list(p) for p in D.random_split(range(20), [10, 10])]
    tg.manual_seed(5)
    assert [list(p) for p in D.random_split(range(20), [10, 10])] == a
    assert a != [list(range(10)), list(range(10, 20))]
    with pytest.raises(ValueError, match=r"random_split: sum of input lengths \[3, 3\] does not equal .* \(10\)"):
        D.random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="fraction at index 0"):
        D.random_split(range(10), [1.5, -0.5])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        D.random_split(range(2), [0.9, 0.05, 0.05])
    assert [str(w.message).split(".")[0] for w in caught] == [f"Length of split at index {i} is 0" for i in (1, 2)]


def test_lazy_import_and_subclassing():
    assert tg.utils.data is D and D.Dataset[int] is not None

    class Sized(D.Sampler):
        def __init__(self, data_source):
            super().__init__(data_source)  # torch allows passing data_source up
            self.n = len(data_source)

        def __iter__(self):
            return iter(reversed(range(self.n)))

    assert [int(y[0]) for _, y in D.DataLoader(_tensors(tg, D), sampler=Sized(range(10)))] == list(range(9, -1, -1))
    assert list(D.ChainDataset([_Stream(2), _Stream(1)])) == [(0, 0.0), (1, 1.0), (0, 0.0)]


# ------------------------------------------------------------------------------------------------ package layout
@pytest.mark.parametrize("module, names", [
    ("dataset", ["Dataset", "IterableDataset", "TensorDataset", "StackDataset", "Subset", "ConcatDataset",
                 "ChainDataset", "random_split"]),
    ("sampler", ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                 "BatchSampler"]),
    ("dataloader", ["DataLoader", "get_worker_info", "default_collate", "default_convert"]),
    ("distributed", ["DistributedSampler"]),
    ("_utils.collate", ["default_collate", "default_convert"]),
])
def test_submodules_as_torch(module, names):
    """`from torch.utils.data.<module> import <name>` ports: the same names live in the same submodules, and are the
    package's own objects."""
    ours, theirs = importlib.import_module(f"tensorgrad.utils.data.{module}"), importlib.import_module(
        f"torch.utils.data.{module}")
    for name in names:
        assert hasattr(theirs, name)
        assert getattr(ours, name) is getattr(D, name)


def test_package_keeps_every_public_name():
    assert set(D.__all__) >= {"Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
                              "ChainDataset", "random_split", "default_collate", "default_convert", "Sampler",
                              "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                              "BatchSampler", "DataLoader", "get_worker_info", "DistributedSampler", "StackDataset"}
    assert all(hasattr(D, n) for n in D.__all__)
    assert set(D.__all__) <= set(TD.__all__)


def test_random_sampler_with_replacement_draws_lazily():
    """nanoGPT-style infinite sampling: 1e10 draws would be 74.5 GiB at once; torch draws 32 at a time."""
    s = D.RandomSampler(range(7), replacement=True, num_samples=int(1e10), generator=tg.Generator(seed=0))
    assert len(s) == int(1e10) == len(TD.RandomSampler(range(7), replacement=True, num_samples=int(1e10)))
    tracemalloc.start()
    first = list(itertools.islice(iter(s), 1000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 * 2 ** 20 and len(first) == 1000 and set(first) == set(range(7))
    # the same generator seed gives the same stream; counts that are not a multiple of 32 end with a short chunk
    for n in (1, 31, 32, 33, 100):
        a = list(D.RandomSampler(range(5), replacement=True, num_samples=n, generator=tg.Generator(seed=3)))
        b = list(D.RandomSampler(range(5), replacement=True, num_samples=n, generator=tg.Generator(seed=3)))
        assert a == b and len(a) == n and all(0 <= i < 5 for i in a)
    batches = D.DataLoader(range(10), sampler=D.RandomSampler(range(10), replacement=True, num_samples=int(1e10)),
                           batch_size=4)
    assert len(batches) == 2500000000 and next(iter(batches)).shape == (4,)


def test_stack_dataset_matches_torch():
    xs, ys = list(range(4)), [i * 0.5 for i in range(4)]
    for args, kwargs in (((xs, ys), {}), ((), {"x": xs, "y": ys})):
        ours, theirs = D.StackDataset(*args, **kwargs), TD.StackDataset(*args, **kwargs)
        assert len(ours) == len(theirs) and [ours[i] for i in range(4)] == [theirs[i] for i in range(4)]
    with pytest.raises(ValueError, match="StackDataset: size mismatch"):
        D.StackDataset(xs, ys[:3])
    with pytest.raises(ValueError, match="either tuple-like"):
        D.StackDataset(xs, y=ys)


# ------------------------------------------------------------------------------------------------ DistributedSampler
@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 8, 10, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 16])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partition_matches_torch(n, replicas, drop_last):
    """Without shuffling the shares are torch's exactly: padding by repeating the head (several times when there are
    more replicas than samples), or cutting to an even split with drop_last."""
    data = list(range(n))
    for rank in range(replicas):
        ours = D.DistributedSampler(data, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TD.DistributedSampler(data, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (5, 8, False)])
def test_distributed_sampler_shuffle_splits_one_permutation_per_epoch(n, replicas, drop_last):
    def shares(epoch, seed=0):
        out = []
        for rank in range(replicas):
            s = D.DistributedSampler(range(n), num_replicas=replicas, rank=rank, seed=seed, drop_last=drop_last)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    e0 = shares(0)
    assert e0 == shares(0) and e0 != shares(1) and e0 != shares(0, seed=1)
    flat = [i for share in e0 for i in share]
    total = D.DistributedSampler(range(n), num_replicas=replicas, rank=0, drop_last=drop_last).total_size
    assert len(flat) == total and all(len(s) == total // replicas for s in e0)
    if n >= total:  # no padding: disjoint shares of one permutation (drop_last leaves n - total out)
        assert len(set(flat)) == total and set(flat) <= set(range(n))
    else:  # padding repeats the permutation's head: every index appears, the extra ones repeat
        assert set(flat) == set(range(n))
    # the interleaved shares are the permutation itself: rank r holds positions r, r + replicas, ...
    perm = [e0[i % replicas][i // replicas] for i in range(total)]
    assert sorted(perm[:min(n, total)]) == sorted(set(perm[:min(n, total)]))


def test_distributed_sampler_errors_and_loader():
    with pytest.raises(RuntimeError, match="DistributedSampler: num_replicas was not given.*pass num_replicas= and "
                                           "rank= explicitly"):
        D.DistributedSampler(range(4))
    with pytest.raises(RuntimeError, match="DistributedSampler: rank was not given"):
        D.DistributedSampler(range(4), num_replicas=2)
    for rank in (2, -1):
        with pytest.raises(ValueError, match=r"Invalid rank .*, rank should be in the interval \[0, 1\]"):
            D.DistributedSampler(range(4), num_replicas=2, rank=rank)
    with pytest.raises(ValueError, match="num_replicas should be a positive integer"):
        D.DistributedSampler(range(4), num_replicas=0, rank=0)
    s = D.DistributedSampler(range(9), num_replicas=2, rank=1, shuffle=False)
    got = [b.tolist() for b in D.DataLoader(range(9), batch_size=2, sampler=s)]
    want = [b.tolist() for b in torch.utils.data.DataLoader(
        range(9), batch_size=2, sampler=TD.DistributedSampler(range(9), num_replicas=2, rank=1, shuffle=False))]
    assert got == want == [[1, 3], [5, 7], [0]]
