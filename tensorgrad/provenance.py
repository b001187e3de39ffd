"""Where a measurement came from: machine, thread settings, library versions and git commit.

Every benchmark result (benchmarks/results/*.json) carries this, so figures can be compared only where
the machine and commit say they should be.
"""
import datetime
import json
import os
import platform
import subprocess
from .backend import blas

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args, cwd=None):
    try:
        out = subprocess.run(["git", *args], cwd=cwd or _REPO, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except Exception:
        return None


def git_commit(cwd=None):
    """HEAD of the checkout tensorgrad runs from (None outside a git checkout). TENSORGRAD_COMMIT overrides it:
    a copy of the tree run elsewhere (a lent GPU machine) may carry a stale .git."""
    return os.environ.get("TENSORGRAD_COMMIT") or _git("rev-parse", "HEAD", cwd=cwd)


def git_dirty(cwd=None):
    """True when tracked files differ from HEAD (the figures may not belong to that commit). Result files under
    benchmarks/results/ do not count: they are this run's outputs, and a session rewrites several in a row."""
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    if status is None:
        return None
    return any(not line.split(None, 1)[-1].startswith("benchmarks/results/") for line in status.splitlines() if line.strip())


def _blas():
    try:
        return blas.backend()
    except Exception as e:  # provenance must never break a benchmark
        return f"unknown ({e})"


def machine_info():
    import numpy as np
    return {
        "cpu": cpu_model(), "nproc": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")},
        "blas": _blas(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def provenance():
    """machine_info() plus the commit: one dict to put under a result's "machine"/"commit" keys."""
    return {"machine": machine_info(), "commit": git_commit(), "dirty": git_dirty()}


def write_result(path, result, device):
    """Write a benchmark's result as JSON, stamped with machine, device, commit and dirty under the same keys in
    every results file, and say where it went."""
    out = dict(result, machine=machine_info(), device=device, commit=git_commit(), dirty=git_dirty())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")
    return path
