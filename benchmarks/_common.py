"""What the side-by-side CPU benchmarks share: timing one framework's step, alternating the two frameworks over
rounds (which goes first flips each round, so neither always meets a warm or a cold cache), and keeping a result
file's earlier labelled runs when a new one is written. Imported from the benchmarks folder (scripts run from it)."""
import gc
import json
import os
import statistics
import time

from tensorgrad.provenance import write_result


def time_once(fn, reps):
    """Milliseconds per call over a loop of reps calls (garbage collected before, so one loop does not pay for the
    previous one's garbage)."""
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps * 1e3


def alternate(run_tg, run_torch, rounds, reps):
    """One warm-up call each (allocations, MKL's first-call setup), then rounds of reps-call loops with the order
    flipped every round; returns the row fields: medians, ratio tensorgrad / torch, and the minima."""
    run_tg(), run_torch()
    ours, theirs = [], []
    for r in range(rounds):
        pair = [(ours, run_tg), (theirs, run_torch)]
        for into, fn in (pair if r % 2 == 0 else pair[::-1]):
            into.append(time_once(fn, reps))
    a, b = statistics.median(ours), statistics.median(theirs)
    return dict(tensorgrad_ms=a, torch_ms=b, ratio=a / b, tensorgrad_min_ms=min(ours), torch_min_ms=min(theirs))


def save_run(out, label, run, **fields):
    """Write run under runs[label] of the JSON file at out, keeping the other labels already there; fields are the
    file's top-level description (benchmark, method, command, versions). Stamped with machine and commit."""
    runs = {}
    if os.path.exists(out):
        with open(out) as f:
            runs = json.load(f).get("runs", {})
    runs[label] = dict(run, load_average_at_end=os.getloadavg())
    write_result(out, dict(fields, runs=runs), device="cpu")
