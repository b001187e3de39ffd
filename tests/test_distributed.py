"""Data parallel on 2 processes (issue 21): each test launches `mpiexec -n 2 python <tests/dist_scripts/...>` (the mpich
wheel's mpiexec; pip install 'tensorgrad[test]' brings it) and checks what the ranks report.

CPU over MPI here; the NCCL path (CUDA tensors) is marked gpu and needs one GPU per process."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "dist_scripts")
MPIEXEC = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
try:
    import mpi4py  # noqa: F401
    HAVE_MPI = os.path.exists(MPIEXEC)
except ImportError:
    HAVE_MPI = False
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec: pip install 'tensorgrad[distributed]'")
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--sample-tokens", "0", "--no-plot", "--log-interval", "0", "--warmup-iters", "2"]


def _env():
    env = dict(os.environ)
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK",
              "OMPI_COMM_WORLD_SIZE"):
        env.pop(k, None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    return env


def mpirun(*args, timeout=90, n=2):
    p = subprocess.run([MPIEXEC, "-n", str(n), *args], capture_output=True, text=True, timeout=timeout, env=_env())
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr[-4000:]}"
    return p.stdout


# ------------------------------------------------------------------------------------------------ one process
def test_imports_and_single_process_answers():
    assert dist.is_available()
    if not dist.is_initialized():
        with pytest.raises(ValueError, match="init_process_group"):
            dist.get_rank()
    assert dist.ReduceOp.SUM is dist.ReduceOp.SUM and repr(dist.ReduceOp.AVG) == "<ReduceOp.AVG>"


def test_init_without_mpi4py_says_what_to_install(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("mpi4py"):
            raise ImportError("No module named 'mpi4py'")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(RuntimeError, match=r"pip install 'tensorgrad\[distributed\]'"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()


def test_torchrun_env_without_mpiexec_is_explained(monkeypatch):
    if not HAVE_MPI:
        pytest.skip("needs mpi4py")
    code = ("import tensorgrad.distributed as d\ntry:\n    d.init_process_group('gloo')\nexcept RuntimeError as e:\n"
            "    print('ERR', e)\n")
    env = _env()
    env.update(RANK="0", WORLD_SIZE="2", LOCAL_RANK="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env).stdout
    assert "ERR" in out and "mpiexec -n 2" in out


def test_launch_env_reads_mpiexec_and_torchrun(monkeypatch):
    from tensorgrad.distributed.launch_env import launch_env
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID",
              "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert launch_env().world_size == 1 and launch_env().launcher is None
    monkeypatch.setenv("PMI_RANK", "3")
    monkeypatch.setenv("PMI_SIZE", "8")
    monkeypatch.setenv("MPI_LOCALRANKID", "1")
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    e = launch_env()
    assert (e.rank, e.world_size, e.local_rank, e.local_world_size, e.is_mpi) == (3, 8, 1, 2, True)
    for k in ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert launch_env().rank == 1 and launch_env().launcher == "mpiexec (Open MPI)"
    monkeypatch.delenv("OMPI_COMM_WORLD_RANK")
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "0")
    e = launch_env()
    assert (e.launcher, e.rank, e.world_size, e.local_rank) == ("torchrun", 2, 4, 0)


def test_post_accumulate_grad_hook_and_queue_callback_order():
    from tensorgrad.autograd import engine
    w1 = tg.nn.Parameter(tg.randn(3, 3))
    w2 = tg.nn.Parameter(tg.randn(3, 3))
    events = []
    w1.register_post_accumulate_grad_hook(lambda p: events.append(("w1", p.grad is not None)))
    w2.register_post_accumulate_grad_hook(lambda p: events.append(("w2", p.grad is not None)))
    x = tg.randn(2, 3)

    def marker(g):
        events.append("mid")
        engine.queue_callback(lambda: events.append("end"))
    h = (x @ w1).relu()
    h.register_hook(marker)
    (h @ w2).sum().backward()
    # w2 is finished before backward reaches h, w1 after: leaves are accumulated as soon as they are complete
    assert events == [("w2", True), "mid", ("w1", True), "end"]


# ------------------------------------------------------------------------------------------------ 2 processes
@needs_mpi
@pytest.mark.parametrize("direct", ["1", "0"])
def test_collectives_results(direct, monkeypatch):
    """Both ways a float32/64 all_reduce can reach MPI: _C.MpiAllreduce (the default with this MPICH) and mpi4py."""
    monkeypatch.setenv("TENSORGRAD_MPI_DIRECT", direct)
    out = mpirun(sys.executable, os.path.join(SCRIPTS, "collectives.py"))
    assert "OK rank 0" in out and "OK rank 1" in out
    assert f"direct rank 0: {direct == '1'}" in out and f"direct rank 1: {direct == '1'}" in out


@needs_mpi
def test_mpi_allreduce_kernel_refuses_what_it_does_not_take():
    """_C.MpiAllreduce on one rank (COMM_SELF): -1 without calling MPI for float16, integers, a strided or a
    read-only array; float32/64 sums in place (one rank: unchanged); start / test / wait on its requests."""
    from mpi4py import MPI
    from tensorgrad.distributed.mpi_backend import _direct_allreduce
    comm = MPI.COMM_SELF.Dup()
    d = _direct_allreduce(comm, MPI)
    assert d is not None
    ro = np.ones(4)
    ro.flags.writeable = False
    for bad in (np.ones(4, np.float16), np.ones(4, np.int64), np.ones((4, 4))[:, ::2], ro):
        before = bad.copy()
        assert d(bad) == -1 and d.start(bad) == (-1, 0)
        np.testing.assert_array_equal(bad, before)
    for dtype in (np.float32, np.float64):
        a = np.arange(5, dtype=dtype)
        assert d(a) == 0 and (a == np.arange(5)).all()
        rc, req = d.start(a)
        assert rc == 0
        while True:
            rc, done = d.test(req)
            assert rc == 0
            if done:
                break
        assert (a == np.arange(5)).all()
        rc, req = d.start(a)
        assert rc == 0 and d.wait(req) == 0
    comm.Free()


@needs_mpi
def test_ddp_matches_one_process_on_the_global_batch():
    out = mpirun(sys.executable, os.path.join(SCRIPTS, "ddp_equivalence.py"))
    cases = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(cases) == 4, out
    for c in cases:
        assert c["between_ranks"] == 0.0, c
        assert c["moved"] > 0.1, c  # the parameters did train
        tol = 1e-6 if "fp16" in c["case"] else 1e-12
        assert c["vs_single"] < tol, c
    assert any(c["buckets"] > 5 for c in cases)


@needs_mpi
def test_ddp_broadcast_unused_zero_and_sampler():
    out = mpirun(sys.executable, os.path.join(SCRIPTS, "ddp_misc.py"))
    assert "OK rank 0" in out and "OK rank 1" in out


@needs_mpi
def test_nanogpt_ddp_lines_run_under_the_torch_alias(tmp_path):
    mpirun(sys.executable, "-m", "tensorgrad.compat", os.path.join(SCRIPTS, "nanogpt_ddp.py"), str(tmp_path))
    world, _ = (tmp_path / "nanogpt_ddp.txt").read_text().split()
    assert world == "2"


@needs_mpi
def test_train_two_ranks_rank0_writes_and_resume_continues(tmp_path):
    a, b = tmp_path / "straight", tmp_path / "resumed"
    args = TINY + ["--eval-interval", "4", "--gradient-accumulation-steps", "2", "--lr-decay-iters", "8"]
    script = os.path.join(SCRIPTS, "train_ranks.py")
    mpirun(sys.executable, script, str(a), *args, "--max-iters", "8")
    mpirun(sys.executable, script, str(b), *args, "--max-iters", "4")
    out = mpirun(sys.executable, script, str(b), *args, "--max-iters", "8", "--resume")
    assert set((a / "writers.txt").read_text().split()) == {"0"}  # rank 0 alone wrote checkpoints
    assert set((b / "writers.txt").read_text().split()) == {"0"}
    ha = json.loads((a / "ckpt.json").read_text())
    hb = json.loads((b / "ckpt.json").read_text())
    assert len(hb["rng"]["ranks"]) == 2
    la = [h[1] for h in ha["history"]]
    lb = [h[1] for h in hb["history"]]
    assert len(la) == 8 and np.allclose(la, lb, rtol=1e-6, atol=0), (la, lb)
    assert ha["config"]["gradient_accumulation_steps"] == 1  # 2 global micro-batches over 2 ranks


@needs_mpi
def test_nproc_relaunches_through_mpiexec(tmp_path):
    env = _env()
    p = subprocess.run([sys.executable, "-m", "tensorgrad", "train", "--nproc", "2", "--out-dir", str(tmp_path),
                        *TINY, "--max-iters", "2", "--eval-interval", "2"], capture_output=True, text=True,
                       timeout=90, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "data parallel: 2 processes" in p.stdout
    assert (tmp_path / "ckpt.safetensors").exists()


@needs_mpi
def test_a_killed_rank_ends_the_job_quickly(tmp_path):
    script = os.path.join(SCRIPTS, "train_ranks.py")
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, script, str(tmp_path), *TINY, "--max-iters",
                             "100000", "--eval-interval", "100000"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        deadline = time.time() + 60
        while not (tmp_path / "pid.1").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # into the training loop
        assert proc.poll() is None, proc.stdout.read()
        os.kill(int((tmp_path / "pid.1").read_text()), signal.SIGKILL)
        t0 = time.time()
        rc = proc.wait(timeout=60)
        took = time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert rc != 0 and took < 60, (rc, took, out[-2000:])


def test_ddp_without_process_group_is_explained():
    if dist.is_initialized():
        pytest.skip("a process group is up in this process")
    from tensorgrad.nn.parallel import DistributedDataParallel
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedDataParallel(tg.nn.Linear(2, 2))


# ------------------------------------------------------------------------------------------------ NCCL
@pytest.mark.gpu
@needs_mpi
def test_nccl_collectives_and_ddp_on_cuda(tmp_path):
    pytest.importorskip("cupy")
    if not tg.cuda.is_available():
        pytest.skip("no CUDA device")
    n = max(1, min(2, tg.cuda.device_count()))  # one process per GPU
    out = mpirun(sys.executable, os.path.join(SCRIPTS, "nccl_check.py"), n=n, timeout=180)
    assert "OK" in out
