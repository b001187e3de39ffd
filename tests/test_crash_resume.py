"""Crash-resume: `tensorgrad train` killed with SIGKILL at random moments (during steps, evaluations and checkpoint
writes), resumed each time with --resume, ends with exactly the losses, evaluations and weights of an
uninterrupted run with the same seed; a watcher polling the out-dir during every run validates every checkpoint
file it ever sees, so no checkpoint is ever observed half-written."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tensorgrad.io import CheckpointError, load_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_ITERS = 300
EVAL_INTERVAL = 5
ARGS = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--max-iters", str(MAX_ITERS), "--eval-interval", str(EVAL_INTERVAL), "--eval-iters", "1",
        "--sample-tokens", "0", "--no-plot", "--log-interval", "0", "--threads", "1", "--seed", "7", "--quiet",
        "--dropout", "0.1", "--warmup-iters", "10"]
ENV = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _start(out_dir, resume):
    cmd = [sys.executable, "-m", "tensorgrad", "train", *ARGS, "--out-dir", out_dir] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Watcher(threading.Thread):
    """Polls out_dir as fast as it can; every checkpoint file it sees must load (ckpt.json must parse)."""

    def __init__(self, out_dir):
        super().__init__(daemon=True)
        self.out_dir, self.stop, self.errors = out_dir, threading.Event(), []
        self.iters_seen, self.reads = set(), 0
        self.latest = -1

    def run(self):
        ck, js = os.path.join(self.out_dir, "ckpt.safetensors"), os.path.join(self.out_dir, "ckpt.json")
        while not self.stop.is_set():
            if os.path.exists(ck):
                try:
                    _, opt, meta = load_checkpoint(ck)
                    assert opt is not None and len(meta["history"]) == meta["iter_num"]
                    self.iters_seen.add(meta["iter_num"])
                    self.latest = max(self.latest, meta["iter_num"])
                    self.reads += 1
                except FileNotFoundError:
                    pass
                except (CheckpointError, AssertionError, KeyError) as e:
                    self.errors.append(f"ckpt.safetensors: {type(e).__name__}: {e}")
            if os.path.exists(js):
                try:
                    with open(js, "rb") as f:
                        json.loads(f.read())
                except FileNotFoundError:
                    pass
                except ValueError as e:
                    self.errors.append(f"ckpt.json: {e}")


def _run_watched(out_dir, resume, kill_after_iter=None, jitter=0.0):
    """Run one training process under a watcher; SIGKILL it `jitter` seconds after the watcher first sees a
    checkpoint at iteration >= kill_after_iter. Returns (returncode, watcher)."""
    w = Watcher(out_dir)
    w.start()
    p = _start(out_dir, resume)
    try:
        if kill_after_iter is not None:
            deadline = time.time() + 60
            while w.latest < kill_after_iter and p.poll() is None and time.time() < deadline:
                time.sleep(0.0005)
            time.sleep(jitter)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        w.stop.set()
        w.join()
    return p.returncode, w, err


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted_run(tmp_path):
    ref_dir, crash_dir = str(tmp_path / "ref"), str(tmp_path / "crash")
    os.makedirs(crash_dir)
    rc, w, err = _run_watched(ref_dir, resume=False)
    assert rc == 0, err
    assert not w.errors, w.errors
    _, _, ref = load_checkpoint(os.path.join(ref_dir, "ckpt.safetensors"))
    assert ref["iter_num"] == MAX_ITERS and len(ref["history"]) == MAX_ITERS

    rng = np.random.default_rng(0)
    kills, seen, resumed_from = 0, set(), []
    targets = sorted(rng.choice(np.arange(EVAL_INTERVAL, MAX_ITERS - 4 * EVAL_INTERVAL, EVAL_INTERVAL), 6,
                            replace=False).tolist())
    for target in targets:
        resume = os.path.exists(os.path.join(crash_dir, "ckpt.safetensors"))
        rc, w, err = _run_watched(crash_dir, resume=resume, kill_after_iter=target, jitter=float(rng.uniform(0, 0.03)))
        assert not w.errors, w.errors  # no half-written checkpoint was ever visible
        seen |= w.iters_seen
        if rc == 0:  # the run finished before the kill landed (a fast machine): nothing to resume
            break
        assert rc == -signal.SIGKILL, err
        kills += 1
        # after the crash: the last complete checkpoint is there and loads
        _, _, meta = load_checkpoint(os.path.join(crash_dir, "ckpt.safetensors"))
        assert meta["iter_num"] % EVAL_INTERVAL == 0 and meta["iter_num"] >= target
        assert meta["history"] == ref["history"][:meta["iter_num"]]  # bit-exact so far
        resumed_from.append(meta["iter_num"])
    assert kills >= 3, f"only {kills} kills landed mid-run"

    rc, w, err = _run_watched(crash_dir, resume=True)
    assert rc == 0, err
    assert not w.errors, w.errors
    seen |= w.iters_seen
    assert len(seen) >= 10, f"the watcher validated too few checkpoint versions: {sorted(seen)}"

    state_c, opt_c, crash = load_checkpoint(os.path.join(crash_dir, "ckpt.safetensors"))
    state_r, opt_r, _ = load_checkpoint(os.path.join(ref_dir, "ckpt.safetensors"))
    last = resumed_from[-1]
    # the losses after the last checkpoint the crashed run resumed from, and all before it: bitwise equal
    assert crash["history"][last:] == ref["history"][last:]
    assert crash["history"] == ref["history"]
    assert crash["evals"] == ref["evals"] and crash["best_val_loss"] == ref["best_val_loss"]
    for k in state_r:
        np.testing.assert_array_equal(state_c[k], state_r[k], err_msg=k)
    for pid, st in opt_r["state"].items():
        for key, v in st.items():
            np.testing.assert_array_equal(np.asarray(getattr(opt_c["state"][pid][key], "data", opt_c["state"][pid][key])),
                                          np.asarray(getattr(v, "data", v)), err_msg=f"optimizer {pid}.{key}")
    # a write cut by SIGKILL leaves at most a temp file behind, never a torn ckpt.safetensors
    leftovers = [f for f in os.listdir(crash_dir) if f not in ("ckpt.safetensors", "ckpt.json")]
    assert all(f.startswith(".ckpt.") and f.endswith(".tmp") for f in leftovers), leftovers


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    p = _start(str(tmp_path / "empty"), resume=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "no checkpoint file" in err and "Traceback" not in err, err
