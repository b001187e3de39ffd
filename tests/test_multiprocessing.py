"""tensorgrad.multiprocessing: torch.multiprocessing's spawn (arguments, failures, join=False) and tensors shared
between processes by reference (spawned and forked children, Queue, Module.share_memory + Hogwild), with no shared
memory left in /dev/shm afterwards and a time limit on every wait.

The functions the children run are at this module's top level (a spawned child imports this module to find them),
and the module imports no torch at its top, so that children start quickly.
"""
import gc
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.multiprocessing as mp
from tensorgrad import nn

LIMIT = 90  # seconds any one wait may take before the test fails instead of hanging
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shm():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.fixture(autouse=True)
def no_shm_left():
    """Every test: no file of tensorgrad's (nor any other new one) stays in /dev/shm once its objects are gone."""
    before = _shm()
    yield
    gc.collect()
    left = {n for n in _shm() - before if n.startswith("tensorgrad_") and not n.startswith("tensorgrad_dataloader")}
    assert not left, f"left in /dev/shm: {sorted(left)}"


def _run(fn, args=(), nprocs=1, start_method="spawn"):
    """start_processes(join=False), joined under LIMIT (so a hang fails the test)."""
    ctx = mp.start_processes(fn, args=args, nprocs=nprocs, join=False, start_method=start_method)
    deadline = time.monotonic() + LIMIT
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"children of {fn.__name__} still running after {LIMIT} s")
    return ctx


def _join(*procs):
    for p in procs:
        p.join(LIMIT)
        if p.is_alive():
            p.kill()
            pytest.fail(f"{p} still running after {LIMIT} s")
    return [p.exitcode for p in procs]


# ------------------------------------------------------------------------------------------------ children
def _write_index(i, t, q, out):
    t[i] = 10.0 + i
    got = q.get(timeout=LIMIT)
    got.add_(1.0)
    out.put((i, got.is_shared(), os.getpid()))


def _raise_or_sleep(i):
    if i == 1:
        raise ValueError(f"boom in child {i}")
    time.sleep(LIMIT)


def _kill_self(i):
    os.kill(os.getpid(), signal.SIGKILL)


def _exit_3(i):
    sys.exit(3)


def _nothing(i, flag):
    flag[i] = 1


def _add_one(t):
    t.add_(1.0)


def _echo(q_in, q_out, received):
    t = q_in.get(timeout=LIMIT)
    q_out.put(t)
    q_out.put(q_in.get(timeout=LIMIT))  # (and a view, whose base lies in the same segment)
    q_out.put(tg.full((2,), 7.0))  # (a temporary: its descriptor travels with the message)
    received.wait(LIMIT)  # (a sender serves its descriptors until they are received, as torch's)


def _hogwild(rank, model, steps):
    tg.manual_seed(rank)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    x, y = tg.ones(8, 4), tg.zeros(8, 2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _init_group(i, world_size):
    import tensorgrad.distributed as dist
    dist.init_process_group(backend="gloo", init_method="tcp://127.0.0.1:29533", rank=i, world_size=world_size)


# ------------------------------------------------------------------------------------------------ spawn
def test_spawn_calls_fn_with_index_and_args_and_shares_tensors():
    """fn(i, *args) in each spawned child; a tensor argument is the parent's memory (as torch's), and a tensor sent
    through a Queue arrives shared whether or not the sender had shared it (torch moves it into shared memory)."""
    t = tg.zeros(3)
    q, out = mp.get_context("spawn").Queue(), mp.get_context("spawn").Queue()
    plain, shared = tg.zeros(2), tg.zeros(2).share_memory_()
    assert not plain.is_shared()
    q.put(plain)
    q.put(shared)
    _run(_write_index, args=(t, q, out), nprocs=2)
    results = sorted(out.get(timeout=LIMIT) for _ in range(2))
    assert [r[0] for r in results] == [0, 1] and all(r[1] for r in results)
    assert len({r[2] for r in results} | {os.getpid()}) == 3
    assert t.tolist() == [10.0, 11.0, 0.0] and t.is_shared()
    assert plain.tolist() == [1.0, 1.0] and shared.tolist() == [1.0, 1.0] and plain.is_shared()


def test_spawn_reraises_a_child_exception_with_its_traceback_and_ends_the_others():
    start = time.monotonic()
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.spawn(_raise_or_sleep, nprocs=2)
    e = info.value
    assert e.error_index == 1 and isinstance(e.error_pid, int)
    assert "-- Process 1 terminated with the following error:" in str(e)
    assert "ValueError: boom in child 1" in str(e) and "_raise_or_sleep" in str(e)
    assert time.monotonic() - start < LIMIT / 2  # the sleeping child was terminated, not waited for
    assert isinstance(pickle.loads(pickle.dumps(e)), mp.ProcessRaisedException)


def test_a_killed_child_and_an_exit_code_are_reported():
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with signal SIGKILL") as info:
        _run(_kill_self, start_method="fork")
    assert info.value.exit_code == -signal.SIGKILL and info.value.signal_name == "SIGKILL"
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3") as info:
        _run(_exit_3, start_method="fork")
    assert info.value.exit_code == 3 and info.value.signal_name is None


def test_join_false_returns_a_process_context():
    flag = tg.zeros(3, dtype=tg.int64)
    ctx = mp.start_processes(_nothing, args=(flag,), nprocs=3, join=False, start_method="fork")
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 3
    deadline = time.monotonic() + LIMIT
    while not ctx.join(timeout=1):
        assert time.monotonic() < deadline
    assert ctx.join() is True  # (joined already: still True)
    assert [p.exitcode for p in ctx.processes] == [0, 0, 0]
    assert flag.tolist() == [0, 0, 0]  # forked, and never shared: the children's writes are their own


def test_spawn_warns_for_another_start_method_as_torch():
    with pytest.warns(FutureWarning, match="only supports start_method=spawn"):
        ctx = mp.spawn(_nothing, args=(tg.zeros(1).share_memory_(),), join=False, start_method="fork")
    assert ctx.join(LIMIT) is True and ctx.processes[0].exitcode == 0


def test_multiprocessing_names_are_reexported():
    import multiprocessing
    for name in ("Process", "Queue", "Pool", "get_context", "set_start_method", "cpu_count", "Pipe", "Event",
                 "get_start_method", "current_process", "SimpleQueue"):
        assert getattr(mp, name) is getattr(multiprocessing, name), name
    assert mp.get_all_sharing_strategies() == {"file_descriptor", "file_system"}
    assert mp.get_sharing_strategy() == "file_descriptor"
    with pytest.raises(ValueError, match="unknown strategy"):
        mp.set_sharing_strategy("shm")


# ------------------------------------------------------------------------------------------------ shared tensors
@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_a_shared_tensor_written_by_a_child_is_seen_by_the_parent(method):
    ctx = mp.get_context(method)
    x = tg.zeros(4).share_memory_()
    y = tg.zeros(4)  # not shared: a forked child's write stays in the child; a spawned child gets it shared
    p1, p2 = ctx.Process(target=_add_one, args=(x,)), ctx.Process(target=_add_one, args=(y,))
    p1.start()
    p2.start()
    assert _join(p1, p2) == [0, 0]
    assert x.tolist() == [1.0] * 4
    assert y.tolist() == ([1.0] * 4 if method == "spawn" else [0.0] * 4)


def test_a_tensor_sent_back_maps_the_same_memory_and_views_keep_their_place():
    ctx = mp.get_context("fork")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    base = tg.arange(6.0)
    view = base[2:5]
    received = ctx.Event()
    p = ctx.Process(target=_echo, args=(q_in, q_out, received))
    p.start()
    q_in.put(base)
    q_in.put(view)
    back, view_back, made = (q_out.get(timeout=LIMIT) for _ in range(3))
    received.set()
    assert made.tolist() == [7.0, 7.0] and made.is_shared()
    assert _join(p) == [0]
    back.add_(100.0)
    view_back.mul_(-1.0)
    assert base.tolist() == [100.0, 101.0, -102.0, -103.0, -104.0, 105.0]
    assert back.array.dtype is np.dtype(np.float32)  # (the canonical dtype object, which the C kernels require)


def test_plain_pickle_copies_and_grad_does_not_travel():
    from multiprocessing.reduction import ForkingPickler
    t = tg.ones(3).share_memory_()
    copy = pickle.loads(pickle.dumps(t))
    assert not copy.is_shared()
    copy.add_(1.0)
    assert t.tolist() == [1.0] * 3
    w = nn.Parameter(tg.ones(2, 2))
    (w * 3).sum().backward()
    got = pickle.loads(ForkingPickler.dumps(w))
    assert type(got) is nn.Parameter and got.requires_grad and got.grad is None and got.is_shared()
    got.data.sub_(1.0)
    assert w.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    z = pickle.loads(ForkingPickler.dumps(tg.zeros(0, 3)))
    assert tuple(z.shape) == (0, 3) and z.is_shared()


def test_a_non_leaf_that_requires_grad_is_refused_as_torch_refuses_it():
    import torch
    import torch.multiprocessing  # noqa: F401 - registers torch's reductions
    from multiprocessing.reduction import ForkingPickler
    with pytest.raises(RuntimeError) as theirs:
        ForkingPickler.dumps(torch.ones(2, requires_grad=True) * 2)
    with pytest.raises(RuntimeError) as ours:
        ForkingPickler.dumps(tg.ones(2, requires_grad=True) * 2)
    assert str(ours.value) == str(theirs.value)
    assert pickle.loads(ForkingPickler.dumps((tg.ones(2, requires_grad=True) * 2).detach())).tolist() == [2.0, 2.0]


def test_share_memory_keeps_recorded_views_aliased():
    r = tg.arange(6.0)
    v = r[2:]
    assert v._base is r
    v.share_memory_()
    assert r.is_shared() and v.is_shared()
    v.add_(100.0)
    assert r.tolist() == [0.0, 1.0, 102.0, 103.0, 104.0, 105.0]
    t = tg.arange(6.0).reshape(2, 3).t()
    assert t.share_memory_().tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]] and t.is_shared()


def test_file_system_strategy_shares_by_name_and_unlinks_when_freed():
    mp.set_sharing_strategy("file_system")
    try:
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        x = tg.zeros(5)
        p = ctx.Process(target=_echo_add, args=(q,))
        p.start()
        q.put(x)
        assert _join(p) == [0]
        assert x.tolist() == [1.0] * 5
        names = [n for n in _shm() if n.startswith(f"tensorgrad_{os.getpid()}_")]
        assert len(names) == 1
    finally:
        mp.set_sharing_strategy("file_descriptor")
    del x, q
    gc.collect()
    assert not [n for n in _shm() if n.startswith(f"tensorgrad_{os.getpid()}_")]


def _echo_add(q):
    q.get(timeout=LIMIT).add_(1.0)


# ------------------------------------------------------------------------------------------------ Hogwild
def test_module_share_memory_then_hogwild_sgd_in_two_spawned_children():
    tg.manual_seed(0)
    model = nn.Linear(4, 2)
    model.register_buffer("steps", tg.zeros(1))
    assert model.share_memory() is model
    assert all(t.is_shared() for t in list(model.parameters()) + list(model.buffers()))
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    procs = [mp.get_context("spawn").Process(target=_hogwild, args=(rank, model, 5)) for rank in range(2)]
    for p in procs:
        p.start()
    assert _join(*procs) == [0, 0]
    assert float((model.weight - w0).abs().sum()) > 1e-3 and float((model.bias - b0).abs().sum()) > 1e-3
    assert model.weight.grad is None  # each child's gradient is its own
    # ten SGD steps on the same loss drive the output toward 0: the parent's parameters took the children's steps
    out = model(tg.ones(1, 4)).detach()
    before = (tg.ones(1, 4) @ w0.t() + b0)
    assert float(out.abs().sum()) < float(before.abs().sum())


# ------------------------------------------------------------------------------------------------ under the alias
def _script(tmp_path, body):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(path)], capture_output=True, text=True,
                          timeout=LIMIT * 2, env=env, cwd=str(tmp_path))


def test_spawned_children_of_a_torch_script_import_tensorgrad_as_torch(tmp_path):
    r = _script(tmp_path, """
        import torch, torch.multiprocessing as mp
        def child(i, t):
            import torch
            t[i] = 1.0 if "tensorgrad" in repr(torch) else -1.0
        if __name__ == "__main__":
            mp.set_start_method("spawn", force=True)
            t = torch.zeros(2)
            mp.spawn(child, args=(t,), nprocs=2)
            print(t.tolist())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[1.0, 1.0]"


def test_a_creator_killed_with_file_system_segments_leaves_nothing(tmp_path):
    r = _script(tmp_path, """
        import os, signal, torch, torch.multiprocessing as mp
        def child(q):
            t = torch.ones(1000)  # (kept: under file_system a name freed by its creator before it arrives is gone)
            q.put(t)
            q.close()
            q.join_thread()  # (the feeder thread has pickled it: the file exists)
            mine = [n for n in os.listdir("/dev/shm") if n.startswith(f"tensorgrad_{os.getpid()}_")]
            print(len(mine), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if __name__ == "__main__":
            mp.set_sharing_strategy("file_system")
            ctx = mp.get_context("fork")
            q = ctx.Queue()
            p = ctx.Process(target=child, args=(q,))
            p.start()
            p.join()
            print(p.exitcode, p.pid)
    """)
    assert r.returncode == 0, r.stderr
    created, code, pid = r.stdout.split()
    assert created == "1" and code == str(-signal.SIGKILL)
    # the creator could not unlink it; multiprocessing's resource tracker did, once the script ended
    assert not [n for n in _shm() if n.startswith(f"tensorgrad_{pid}_")]


def test_spawned_ddp_workers_are_told_to_launch_with_mpiexec():
    pytest.importorskip("mpi4py")
    with pytest.raises(mp.ProcessRaisedException, match=r"mpiexec -n 2 python script.py") as info:
        _run(_init_group, args=(2,), nprocs=2, start_method="fork")
    assert "not part of an MPI job" in str(info.value) and "multiprocessing" in str(info.value)
