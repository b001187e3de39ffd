"""DataLoader with num_workers > 0 (worker processes) against num_workers=0 and against torch's DataLoader with workers
on the same dataset and sampler: batches (values, dtypes, containers) and their order, the workers' seeding (equal to
torch's for `random` and NumPy), get_worker_info and worker_init_fn, IterableDataset replicas and sharding, errors
(a worker's exception with its traceback, timeout, a killed worker), persistent workers, the spawn start method, and
shutdown: no process left after the loader goes, none hanging at interpreter exit or on Ctrl-C."""
import gc
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.utils.data as TD
from dataloader_worker_datasets import Big, Failing, Indexed, Kinds, Randomness, sharded_stream
from test_utils_data import same

import tensorgrad as tg
import tensorgrad.utils.data as D

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork start method")


def _alive(pid):
    """pid still exists as a process that is not a zombie (a reaped worker is gone from /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _as_torch(x):
    """A tensorgrad batch as torch would build it, for same() to compare two tensorgrad batches."""
    if isinstance(x, tg.Tensor):
        return torch.from_numpy(x.numpy().copy())
    if isinstance(x, dict):
        return type(x)((k, _as_torch(v)) for k, v in x.items())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*map(_as_torch, x))
    if isinstance(x, (list, tuple)):
        return type(x)(map(_as_torch, x))
    return x


def _no_children_left():
    gc.collect()  # an iterator an exception's traceback held
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


@pytest.mark.parametrize("kw", [dict(batch_size=5), dict(batch_size=5, drop_last=True), dict(batch_size=None),
                                dict(batch_size=4, num_workers=1, prefetch_factor=1),
                                dict(batch_size=3, in_order=False)])
def test_batches_equal_single_process_and_torch(kw):
    kw = {"num_workers": 2, **kw}
    ours = list(D.DataLoader(Kinds(tg), **kw))
    theirs = list(TD.DataLoader(Kinds(torch), **kw))
    main = list(D.DataLoader(Kinds(tg), **{k: v for k, v in kw.items() if k not in ("num_workers", "prefetch_factor",
                                                                                    "in_order")}))
    if not kw.get("in_order", True):  # as they come; with these equal-cost items usually in order, not always
        key = (lambda b: int(b["int"][0]))
        ours, theirs, main = (sorted(x, key=key) for x in (ours, theirs, main))
    assert len(ours) == len(theirs) == len(main) > 0
    same(ours, theirs)
    same(ours, _as_torch(main))
    assert ours[0]["f16"].dtype == tg.float16 and ours[0]["i8"].dtype == tg.int8 and ours[0]["bool"].dtype == tg.bool


def test_samplers_and_collate_fn_run_as_in_torch():
    ds = Indexed(17, echo_worker=True)
    bs = [[3, 1], [0], [16, 2, 5, 4], [9, 8, 7]]
    for kw in [dict(batch_sampler=bs), dict(sampler=[5, 2, 9, 1], batch_size=3), dict(sampler=[4, 0, 2],
                                                                                      batch_size=None)]:
        ours = [b[0] for b in D.DataLoader(ds, num_workers=2, **kw)]
        theirs = [b[0] for b in TD.DataLoader(ds, num_workers=2, **kw)]
        same(ours, theirs)
    # collate_fn runs in the worker: it sees the worker's pid, not ours
    pids = [pid for pid in D.DataLoader(Indexed(6), batch_size=2, num_workers=2, collate_fn=lambda b: os.getpid())]
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_shuffle_order_is_the_samplers_whatever_num_workers():
    # the sampler runs in the main process: the order equals num_workers=0's for the same generator seed (tensorgrad's
    # permutations are not torch's, so they are compared with our own, and with torch's only as sets)
    def epochs(nw, seed):
        loader = D.DataLoader(Indexed(40), batch_size=6, shuffle=True, num_workers=nw,
                              generator=tg.Generator().manual_seed(seed))
        return [np.concatenate([b.numpy() for b in loader]).tolist() for _ in range(2)]

    two = epochs(2, 3)
    assert two == epochs(0, 3) and two != epochs(2, 4) and two[0] != two[1]
    assert all(sorted(e) == list(range(40)) for e in two)
    tg.manual_seed(8)
    first = [b.tolist() for b in D.DataLoader(Indexed(10), batch_size=4, shuffle=True, num_workers=2)]
    tg.manual_seed(8)
    assert [b.tolist() for b in D.DataLoader(Indexed(10), batch_size=4, shuffle=True, num_workers=0)] == first


def _worker_draws(lib, data, seed, **kw):
    lib.manual_seed(seed)
    return [b for b in data.DataLoader(Randomness(lib, data.get_worker_info), batch_size=None, num_workers=2, **kw)]


def test_worker_seeding_and_worker_info_as_torch():
    draws = _worker_draws(tg, D, 0)
    assert [d["id"] for d in draws] == [0, 1] * 4 and all(d["num_workers"] == 2 for d in draws)
    assert all(d["same_dataset"] is True for d in draws)  # info.dataset: the worker's own copy, the one it loads from
    seeds = {d["id"]: d["seed"] for d in draws}
    assert seeds[1] == seeds[0] + 1  # ... seeded base_seed + worker id
    base = seeds[0]
    from torch.utils.data._utils.worker import _generate_state
    for w in (0, 1):
        mine = [d for d in draws if d["id"] == w]
        py, npr, g = random.Random(base + w), np.random.RandomState(_generate_state(base, w)), tg.Generator()
        g.manual_seed(base + w)
        assert [d["random"] for d in mine] == [py.random() for _ in mine]  # torch seeds `random` so, and NumPy so
        assert [d["numpy"] for d in mine] == [npr.rand() for _ in mine]
        assert [d["lib"] for d in mine] == [float(tg.rand((), generator=g).item()) for _ in mine]
    assert _worker_draws(tg, D, 0) == draws  # manual_seed makes the workers' randomness reproducible
    assert _worker_draws(tg, D, 1) != draws
    gen = _worker_draws(tg, D, 5, generator=tg.Generator().manual_seed(11))
    assert _worker_draws(tg, D, 6, generator=tg.Generator().manual_seed(11)) == gen  # base seed off the generator
    # torch: the same structure (NumPy's stream from _generate_state, `random` from base + id)
    t = _worker_draws(torch, TD, 0)
    tb = t[0]["seed"]
    assert [d["numpy"] for d in t if d["id"] == 1][0] == np.random.RandomState(_generate_state(tb, 1)).rand()
    assert D.get_worker_info() is None


def test_worker_init_fn_configures_each_worker():
    def init(worker_id):
        info = D.get_worker_info()
        assert info.id == worker_id
        info.dataset.offset = 1000 * (worker_id + 1)

    ds = Indexed(8)
    got = [b.tolist() for b in D.DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=init)]
    assert got == [[1000, 1001], [2002, 2003], [1004, 1005], [2006, 2007]]
    assert ds.offset == 0  # the workers changed their copies only


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")  # (a 2-core machine)
def test_iterable_dataset_replicas_and_sharding_as_torch():
    ours_cls, theirs_cls = sharded_stream(D.IterableDataset, D.get_worker_info), sharded_stream(TD.IterableDataset,
                                                                                                 TD.get_worker_info)
    for args, kw in [((3, 20), dict(batch_size=4)), ((0, 7), dict(batch_size=2, drop_last=True)),
                     ((0, 5), dict(batch_size=None)), ((0, 9), dict(batch_size=4, num_workers=3))]:
        kw = {"num_workers": 2, **kw}
        for shard in (True, False):
            ours = list(D.DataLoader(ours_cls(*args, shard=shard), **kw))
            theirs = list(TD.DataLoader(theirs_cls(*args, shard=shard), **kw))
            same(ours, theirs)
            flat = sorted(np.concatenate([np.atleast_1d(getattr(b, "tolist", lambda: b)()) for b in ours]).tolist())
            if shard and not kw.get("drop_last"):
                assert flat == list(range(*args))
            if not shard and not kw.get("drop_last"):  # every worker iterates its own full copy, as torch documents
                assert flat == sorted(list(range(*args)) * kw["num_workers"])
    loader = D.DataLoader(ours_cls(0, 10, shard=False, length=10), batch_size=None, num_workers=2)
    assert len(loader) == 10
    with pytest.warns(UserWarning, match="was reported to be 10.*For multiprocessing data-loading"):
        assert len(list(loader)) == 20


def test_more_workers_than_cpus_warns_as_torch():
    n = len(os.sched_getaffinity(0)) + 1
    with pytest.warns(UserWarning) as ours:
        D.DataLoader(Indexed(4), num_workers=n)
    with pytest.warns(UserWarning) as theirs:
        TD.DataLoader(Indexed(4), num_workers=n)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert f"will create {n} worker processes" in str(ours[0].message)


def test_worker_exception_reraised_with_its_traceback():
    for exc in (ValueError, KeyError):
        with pytest.raises(exc) as ours:
            list(D.DataLoader(Failing(10, 7, exc), batch_size=2, num_workers=2))
        it = iter(TD.DataLoader(Failing(10, 7, exc), batch_size=2, num_workers=2))
        with pytest.raises(exc) as theirs:
            list(it)
        it._shutdown_workers()  # (torch's, collected in a cycle, would wait 5 s per worker for a None it never gets)
        msg, tmsg = str(ours.value), str(theirs.value)
        assert msg.splitlines()[:2] == tmsg.splitlines()[:2] == ["Caught " + exc.__name__ + " in DataLoader worker "
                                                                 "process 1.", "Original Traceback (most recent call "
                                                                 "last):"]
        del ours, theirs, it
        assert 'raise self.exc_type(f"bad item {i}")' in msg and msg.rstrip().endswith("bad item 7" + "'" * (exc is
                                                                                                             KeyError))
    assert _no_children_left()


def test_timeout_raises_torch_error():
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        list(D.DataLoader(Indexed(4, sleep=1.0), batch_size=2, num_workers=1, timeout=0.3))
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        D.DataLoader(Indexed(4), num_workers=1, timeout=-1)
    assert _no_children_left()


@pytest.mark.parametrize("how, cause", [("signal", r"is killed by signal: Killed\."),
                                        ("exit", r"exited unexpectedly with exit code 3\.")])
def test_killed_worker_raises_instead_of_hanging(how, cause):
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly") as e:
        list(D.DataLoader(Failing(40, 9, kill=how), batch_size=2, num_workers=2))
    assert time.monotonic() - t0 < 5  # detected from the process sentinel, not a polling interval
    assert isinstance(e.value.__cause__, RuntimeError)
    assert re.search(r"DataLoader worker \(pid \d+\) " + cause, str(e.value.__cause__))
    del e
    assert _no_children_left()


def test_persistent_workers_reused_across_epochs():
    loader = D.DataLoader(Indexed(9, echo_worker=True), batch_size=2, num_workers=2, persistent_workers=True)
    epochs = [[b for b in loader] for _ in range(3)]
    for e in epochs:
        assert np.concatenate([b[0].numpy() for b in e]).tolist() == list(range(9))
    pids = {int(p) for e in epochs for b in e for p in b[1].tolist()}
    assert len(pids) == 2 and all(_alive(p) for p in pids)  # the same two processes served every epoch
    it = iter(loader)
    next(it)  # an epoch broken off: the next one starts clean
    assert [b[0].tolist() for b in loader][0] == [0, 1]
    del loader, it, epochs
    assert _no_children_left() and not any(_alive(p) for p in pids)


def test_spawn_context_with_picklable_dataset():
    ds = Indexed(12)
    loader = D.DataLoader(ds, batch_size=5, num_workers=2, multiprocessing_context="spawn")
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    same(list(loader), list(TD.DataLoader(ds, batch_size=5)))  # (each spawned worker imports tensorgrad: ~2 s)
    ctx = multiprocessing.get_context("forkserver")
    assert D.DataLoader(ds, num_workers=1, multiprocessing_context=ctx).multiprocessing_context is ctx
    with pytest.raises(ValueError, match="multiprocessing_context option should specify a valid start method"):
        D.DataLoader(ds, num_workers=1, multiprocessing_context="bogus")
    with pytest.raises(ValueError, match="multiprocessing_context can only be used with multi-process loading"):
        D.DataLoader(ds, multiprocessing_context="spawn")
    assert _no_children_left()


def test_no_process_left_after_the_loader_goes():
    loader = D.DataLoader(Indexed(100, echo_worker=True), batch_size=2, num_workers=2)
    it = iter(loader)
    pids = {int(p) for _ in range(3) for p in next(it)[1].tolist()}
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    del it  # mid-epoch
    assert _no_children_left() and not any(_alive(p) for p in pids)
    list(loader)  # a full epoch shuts its workers down at its end
    assert _no_children_left()


def _shm_files():
    return {f for f in os.listdir("/dev/shm") if f.startswith("tensorgrad_dataloader_")} if os.path.isdir(
        "/dev/shm") else set()


def test_large_batches_through_shared_memory():
    before = _shm_files()
    ds = Big(8)
    ours = list(D.DataLoader(ds, batch_size=4, num_workers=2))
    same(ours, list(TD.DataLoader(ds, batch_size=4)))
    x = ours[1][0]
    assert x.array.nbytes > 1 << 16 and x.array.flags.writeable
    np.testing.assert_array_equal((x + x).numpy(), 2 * x.numpy())  # (tensorgrad's C kernels take its dtype)
    np.testing.assert_array_equal((ours[0][1] + 1).numpy(), [1, 2, 3, 4])  # a small one, through the pipe
    it = iter(D.DataLoader(ds, batch_size=2, num_workers=2))
    next(it)
    del it  # batches still in flight: received at shutdown, so their files go
    assert _no_children_left() and _shm_files() == before


_SCRIPT = """
import os, sys, time
sys.path[:0] = {path!r}
import tensorgrad.utils.data as D
from dataloader_worker_datasets import Indexed
loader = D.DataLoader(Indexed(10 ** 6, echo_worker=True, sleep={sleep}), batch_size=2, num_workers=2,
                      persistent_workers=True)
pids = [int(p) for p in next(iter(loader))[1].tolist()]
print(" ".join(map(str, pids)), flush=True)
{tail}
"""


@pytest.mark.parametrize("tail, sig", [("", None), ("time.sleep(60)", signal.SIGINT)])
def test_interpreter_exit_and_ctrl_c_do_not_hang(tail, sig):
    path = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.path.dirname(os.path.abspath(__file__))]
    code = textwrap.dedent(_SCRIPT).format(path=path, sleep=0.01, tail=tail)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    if sig is not None:  # Ctrl-C reaches the whole foreground process group
        os.killpg(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(pids) == 2
    assert proc.returncode == (0 if sig is None else -sig), err  # (Python exits by SIGINT on KeyboardInterrupt)
    if sig is not None:
        assert "KeyboardInterrupt" in err
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)
