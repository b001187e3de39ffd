"""torch.profiler's API (tensorgrad.profiler.torch_api; ``torch.profiler`` under the alias): schedule equal to
torch's, record_function nesting and timing, op call counts, torch's table layout, Chrome trace JSON,
tensorboard_trace_handler files, and a training loop run under the alias."""
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

import tensorgrad as tg
from tensorgrad.autograd import engine, function
from tensorgrad.profiler import torch_api as tp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("kw", [dict(wait=1, warmup=1, active=3), dict(wait=0, warmup=2, active=1, repeat=2),
                                dict(wait=2, warmup=1, active=2, repeat=3, skip_first=3),
                                dict(wait=3, warmup=1, active=2, skip_first=2, skip_first_wait=1),
                                dict(wait=1, warmup=0, active=1, repeat=1)])
def test_schedule_matches_torch(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (warmup=0 warns in both)
        ours, theirs = tp.schedule(**kw), torch.profiler.schedule(**kw)
    assert [ours(s).name for s in range(40)] == [theirs(s).name for s in range(40)]


def test_schedule_rejects_bad_arguments():
    with pytest.raises(AssertionError, match="active=0"):
        tp.schedule(wait=1, warmup=1, active=0)


def _run_steps(sched, n, **kw):
    """Steps of a scheduled profile, each doing one op; returns the ProfilerStep numbers of each handed-on trace."""
    traces = []

    def ready(p):
        traces.append(sorted(int(e.name.split("#")[1]) for e in p.events() if e.name.startswith("ProfilerStep#")))
    x = tg.randn(3)
    with tp.profile(schedule=sched, on_trace_ready=ready, **kw) as prof:
        for _ in range(n):
            x.exp()
            prof.step()
    return traces, prof


def test_steps_recorded_follow_torch_schedule():
    # torch records steps 2..4 for wait=1, warmup=1, active=3 and hands the trace on after step 4; repeat=2 gives
    # two cycles
    traces, _ = _run_steps(tp.schedule(wait=1, warmup=1, active=3, repeat=2), 12)
    assert traces == [[2, 3, 4], [7, 8, 9]]
    # stopping mid-cycle hands on the partial trace, as torch's stop() does
    traces, prof = _run_steps(tp.schedule(wait=1, warmup=1, active=3), 4)
    assert traces == [[2, 3, 4]]
    assert not function._forward_hooks and not engine._node_hooks and "__init__" not in function.Function.__dict__
    # ending on a warmup step leaves an empty trace, as torch (its warmup starts and stops a trace at exit)
    traces, prof = _run_steps(tp.schedule(wait=1, warmup=1, active=3), 6)
    assert traces == [[2, 3, 4]] and len(prof.events()) == 0


def test_record_function_nesting_and_timing():
    x = tg.randn(8, 8, requires_grad=True)
    with tp.profile(activities=[tp.ProfilerActivity.CPU]) as prof:
        with tp.record_function("outer"):
            with tp.record_function("inner"):
                time.sleep(0.02)
                y = (x @ x).sum()
            time.sleep(0.01)
        y.backward()
    ev = {e.name: e for e in prof.events()}
    outer, inner = ev["outer"], ev["inner"]
    assert inner.cpu_time_total >= 20_000 and outer.cpu_time_total >= 30_000  # microseconds
    assert inner.cpu_parent is outer and ev["MatMul"].cpu_parent is inner
    assert outer.self_cpu_time_total >= 10_000 and outer.self_cpu_time_total < outer.cpu_time_total - 20_000
    assert ev["MatMulBackward0"].cpu_parent is None and ev["MatMulBackward0"].cpu_time_total > 0
    # record_function outside a profiler is a no-op, also as a decorator
    @tp.record_function("deco")
    def f():
        return 3
    assert f() == 3


def test_op_time_is_the_op_forward():
    # an op that sleeps in its forward (a torch-style Function) is timed from its apply to its end
    class Slow(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            time.sleep(0.015)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2
    x = tg.randn(3, requires_grad=True)
    with tp.profile() as prof:
        Slow.apply(x).sum().backward()
        time.sleep(0.01)  # (Python after the ops is no op's time)
    avg = {a.key: a for a in prof.key_averages()}
    assert 15_000 <= avg["Slow"].cpu_time_total < 25_000
    assert avg["Sum"].cpu_time_total < 5_000


def test_call_counts_and_shapes():
    w = tg.randn(5, 4, requires_grad=True)
    x = tg.randn(3, 5)
    with tp.profile(record_shapes=True) as prof:
        for _ in range(3):
            (x @ w).relu().sum().backward()
    counts = {a.key: a.count for a in prof.key_averages()}
    for name in ("MatMul", "MatMulBackward0", "Sum", "SumBackward0"):
        assert counts[name] == 3, counts
    relu = [k for k in counts if k.lower().startswith("relu")]
    assert relu and all(counts[k] == 3 for k in relu), counts
    by_shape = {(a.key, str(a.input_shapes)): a.count for a in prof.key_averages(group_by_input_shape=True)}
    assert by_shape[("MatMul", "[[3, 5], [5, 4]]")] == 3
    with tp.profile() as p2:
        x.exp()
    with pytest.raises(RuntimeError, match="record_shapes"):
        p2.key_averages(group_by_input_shape=True)


def test_table_has_torch_columns():
    x = tg.randn(4, 4)
    with torch.profiler.profile(record_shapes=True) as real:
        torch.randn(4, 4).exp()
    with tp.profile(record_shapes=True) as prof:
        for _ in range(2):
            x.exp()
    ours = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    theirs = real.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    cols = lambda t: re.split(r"\s{2,}", t.splitlines()[1].strip())
    assert cols(ours) == cols(theirs)
    assert cols(prof.key_averages(group_by_input_shape=True).table()) == \
        cols(real.key_averages(group_by_input_shape=True).table())
    lines = ours.splitlines()
    assert lines[0] == lines[2] == lines[-2] and set(lines[0]) == {"-", " "}
    row = re.split(r"\s{2,}", lines[3].strip())
    assert row[0] == "Exp" and row[-1] == "2" and row[1].endswith("%") and re.fullmatch(r"[\d.]+(us|ms|s)", row[2])
    assert lines[-1].startswith("Self CPU time total: ")
    assert len(prof.key_averages().table(row_limit=1).splitlines()) == 6
    with pytest.raises(ValueError, match="sort_by"):
        prof.key_averages().table(sort_by="cuda_time_total")


def test_chrome_trace_json(tmp_path):
    x = tg.randn(4, 4, requires_grad=True)
    with tp.profile(record_shapes=True) as prof:
        with tp.record_function("fwd"):
            y = (x * 2).sum()
        y.backward()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    doc = json.loads(path.read_text())
    evs = doc["traceEvents"]
    assert {e["name"] for e in evs} >= {"fwd", "Mul", "Sum", "MulBackward0", "SumBackward0"}
    for e in evs:
        assert e["ph"] == "X" and e["dur"] >= 0 and isinstance(e["ts"], float)
    fwd = next(e for e in evs if e["name"] == "fwd")
    mul = next(e for e in evs if e["name"] == "Mul")
    assert fwd["ts"] <= mul["ts"] and mul["ts"] + mul["dur"] <= fwd["ts"] + fwd["dur"]
    assert mul["args"]["Input Dims"][0] == [4, 4]


def test_tensorboard_trace_handler_writes_a_trace_per_cycle(tmp_path):
    logdir = tmp_path / "log"
    sched = tp.schedule(wait=1, warmup=1, active=2, repeat=2)
    _run_steps(sched, 10)  # (no handler)
    x = tg.randn(3)
    with tp.profile(schedule=sched, on_trace_ready=tp.tensorboard_trace_handler(str(logdir), "w0")) as prof:
        for _ in range(10):
            x.exp()
            prof.step()
    files = sorted(os.listdir(logdir))
    assert len(files) == 2 and all(re.fullmatch(r"w0\.\d+\.pt\.trace\.json", f) for f in files), files
    for f in files:
        names = [e["name"] for e in json.loads((logdir / f).read_text())["traceEvents"]]
        assert names.count("Exp") == 2 and sum(n.startswith("ProfilerStep#") for n in names) == 2


def test_no_hooks_when_idle_and_one_recorder_at_a_time():
    assert not function._forward_hooks and not engine._node_hooks
    with pytest.raises(ZeroDivisionError):
        with tp.profile():
            assert function._forward_hooks and engine._node_hooks
            with pytest.raises(RuntimeError, match="already recording"):
                with tp.profile():
                    pass
            1 / 0
    assert not function._forward_hooks and not engine._node_hooks and "__init__" not in function.Function.__dict__
    with pytest.raises(RuntimeError, match="no trace"):
        tp.profile().events()
    with pytest.warns(UserWarning, match="CUDA"):
        tp.profile(activities=[tp.ProfilerActivity.CPU, tp.ProfilerActivity.CUDA])


def test_training_loop_under_the_alias(tmp_path):
    prog = tmp_path / "train.py"
    prog.write_text(textwrap.dedent("""
        import os, json
        import torch
        import torch.nn as nn
        import torch.autograd.profiler as autograd_profiler
        from torch.profiler import profile, record_function, ProfilerActivity
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True, profile_memory=False,
                     schedule=torch.profiler.schedule(wait=1, warmup=1, active=3),
                     on_trace_ready=torch.profiler.tensorboard_trace_handler("./log")) as prof:
            for step in range(5):
                with record_function("forward"):
                    loss = nn.functional.cross_entropy(model(x), y)
                with autograd_profiler.record_function("backward"):
                    opt.zero_grad(); loss.backward(); opt.step()
                prof.step()
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
        prof.export_chrome_trace("trace.json")
        print(len(os.listdir("log")), len(json.load(open("trace.json"))["traceEvents"]) > 0)
    """))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(prog)], capture_output=True, text=True,
                       cwd=str(tmp_path), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[1].strip())[:7] == ["Name", "Self CPU %", "Self CPU", "CPU total %",
                                                         "CPU total", "CPU time avg", "# of Calls"]
    rows = {re.split(r"\s{2,}", ln.strip())[0]: re.split(r"\s{2,}", ln.strip())[6] for ln in lines[3:13]
            if not ln.startswith("-")}
    assert rows["forward"] == "3" and rows["backward"] == "3", r.stdout  # the 3 active steps
    assert lines[-1] == "1 True"
