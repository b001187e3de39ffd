"""profiler.memory(): live / saved-for-backward byte accounting, timeline, report, plots."""
import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import nn, profiler
from tensorgrad.autograd import engine, function
from tensorgrad.profiler.report import plot_pareto, plot_timeline


def test_exact_bytes_exp_chain():
    x = tg.randn(1000, requires_grad=True)  # float32: 4000 bytes
    with profiler.memory() as prof:
        y = x.exp()                      # Exp saves its output: 4000 saved bytes
        assert prof.saved_bytes == 4000
        assert prof.live_bytes == 8000   # x (first seen as an op input) + y
        z = y.reshape(10, 100)           # a view: no new bytes
        assert prof.live_bytes == 8000
        w = z.exp()
        assert prof.saved_bytes == 8000 and prof.live_bytes == 12000
        w.sum().backward()
        assert prof.saved_bytes == 0     # the engine released every node's saved arrays
        del y, z, w
    assert prof.peak_saved_bytes == 8000
    assert prof.peak_bytes >= 12000
    assert prof.live_bytes == 8000       # x and its grad (registered at exit)
    phases = [r.phase for r in prof.timeline]
    assert "fwd" in phases and "bwd" in phases
    ops = [r.op for r in prof.timeline]
    assert "Exp" in ops and "ExpBackward0" in ops
    assert prof.by_op["Exp"] == [8000, 2]


def test_hooks_removed_and_inactive_cost():
    assert not function._forward_hooks and not engine._node_hooks
    with pytest.raises(ZeroDivisionError):
        with profiler.memory():
            assert function._forward_hooks and engine._node_hooks
            1 / 0
    assert not function._forward_hooks and not engine._node_hooks


def test_no_grad_saves_nothing_and_dead_arrays_leave():
    x = tg.randn(256, requires_grad=True)
    with profiler.memory() as prof:
        with tg.no_grad():
            y = x.exp()
        assert prof.saved_bytes == 0
        before = prof.live_bytes
        del y
        assert prof.live_bytes == before - 1024


def test_modules_and_report():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4))
    x = tg.randn(8, 16)
    with profiler.memory(model) as prof:
        model(x).sum().backward()
    mods = {r.module for r in prof.timeline if r.op == "Linear"}
    assert mods == {"0", "2"}
    bwd_mods = {r.module for r in prof.timeline if r.op == "LinearBackward0"}
    assert bwd_mods == {"0", "2"}
    rep = prof.report()
    assert "Linear" in rep and "saved bytes" in rep and "peak live" in rep
    assert prof.peak_saved_bytes > 0
    assert prof.saved_bytes == 0
    # every parameter and its gradient are live at the end
    assert prof.live_bytes >= 2 * sum(p.nbytes for p in model.parameters())


def test_plots(tmp_path):
    x = tg.randn(64, requires_grad=True)
    with profiler.memory() as prof:
        x.exp().exp().sum().backward()
    plot_timeline(tmp_path / "t.png", {"a": prof.timeline})
    plot_pareto(tmp_path / "p.png", [("a", 0.1, 100, 50), ("b", 0.2, 60, 20), ("c", 0.3, 80, 30)])
    for f in ("t.png", "p.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_cli_writes_table_json_and_plots(tmp_path):
    """`tensorgrad profile` end to end on a tiny GPT: JSON with machine + commit, markdown table, both PNGs."""
    import json
    import subprocess
    import sys
    out = tmp_path / "res"
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "tensorgrad", "profile", "--n-layer", "4", "--n-head", "2",
                        "--n-embd", "16", "--block-size", "8", "--batch-size", "2", "--policies", "none,sqrt",
                        "--budgets", "2", "--steps", "1", "--out-dir", str(out), "--prefix", "p"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((out / "p.json").read_text())
    assert data["machine"]["nproc"] and "commit" in data
    assert {row["policy"] for row in data["rows"]} >= {"none", "sqrt"}
    md = (out / "p.md").read_text()
    assert "| policy" in md and "sqrt" in md
    for png in ("p_timeline.png", "p_pareto.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
