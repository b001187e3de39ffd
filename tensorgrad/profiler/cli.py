"""``tensorgrad profile``: activation-checkpointing policies on a GPT config -> table, JSON and PNGs.

For every policy (none, all, every=K..., sqrt, and the budget planner at several budgets) it measures one
training step's peak live bytes and peak saved-for-backward (activation) bytes with the memory profiler,
and the step time (forward + backward + AdamW step; policies interleaved round by round; min and median),
then writes <prefix>.json (with machine and commit), <prefix>.md, <prefix>_timeline.png, <prefix>_pareto.png.

    tensorgrad profile --n-layer 12 --n-embd 128 --block-size 128 --batch-size 8 --out-dir benchmarks/results
"""
import json
import os
import statistics
import time

import numpy as np

from ..models.gpt import GPT, GPTConfig
from ..planner import (apply_checkpoint_policy, checkpointed_blocks, measure_blocks, measure_step, parse_budget,
                       parse_policy, plan_checkpoints)
from ..provenance import machine_info, git_commit
from ..random import manual_seed
from ..tensor import tensor
from .report import fmt_bytes, markdown_table, plot_pareto, plot_timeline


def add_parser(subparsers):
    p = subparsers.add_parser("profile", help="memory/step-time of activation-checkpointing policies on a GPT",
                              description=__doc__.split("\n\n")[1])
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--vocab-size", type=int, default=65)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--policies", default="none,all,every=2,every=3,every=4,sqrt",
                   help="comma-separated checkpoint policies (none | all | sqrt | every=K | blocks=...)")
    p.add_argument("--budgets", default="5",
                   help="a count N (budgets spread between the peaks of 'all' and 'none') or sizes like 60MB,90MB")
    p.add_argument("--steps", type=int, default=10, help="timed steps per policy (after one warm-up round)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="benchmarks/results")
    p.add_argument("--prefix", default="checkpoint_policies")
    p.add_argument("--no-plots", dest="plots", action="store_false")
    p.set_defaults(func=run)
    return p


def _budgets(spec, lo, hi):
    parts = [s for s in str(spec).split(",") if s.strip()]
    if len(parts) == 1 and parts[0].strip().isdigit() and int(parts[0]) < 1000:
        k = int(parts[0])
        return [int(lo + (i + 0.5) / k * (hi - lo)) for i in range(k)]
    return [parse_budget(s) for s in parts]


def profile(cfg):
    """Run the measurements; returns the result dict (also what the JSON holds)."""
    manual_seed(cfg["seed"])
    model = GPT(GPTConfig(block_size=cfg["block_size"], vocab_size=cfg["vocab_size"], n_layer=cfg["n_layer"],
                          n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=cfg["dropout"]))
    r = np.random.default_rng(cfg["seed"])
    shape = (cfg["batch_size"], cfg["block_size"])
    batch = (tensor(r.integers(0, cfg["vocab_size"], shape).astype(np.int64)),
             tensor(r.integers(0, cfg["vocab_size"], shape).astype(np.int64)))
    n = cfg["n_layer"]
    blocks = model.transformer.h

    rows, timelines = [], {}
    for pol in [parse_policy(p) for p in cfg["policies"].split(",") if p.strip()]:
        res, prof = measure_step(model, batch, pol, return_profiler=True, blocks=blocks)
        timelines[pol] = prof.timeline
        rows.append({"policy": pol, "kind": "policy", "checkpointed": checkpointed_blocks(pol, n), **res})
    by = {r["policy"]: r for r in rows}
    hi = by["none"]["peak_bytes"] if "none" in by else measure_step(model, batch, "none", blocks=blocks)["peak_bytes"]
    lo = by["all"]["peak_bytes"] if "all" in by else measure_step(model, batch, "all", blocks=blocks)["peak_bytes"]

    t0 = time.perf_counter()
    m = measure_blocks(model, batch, blocks=blocks)
    for b in _budgets(cfg["budgets"], lo, hi):
        plan = plan_checkpoints(model, batch, b, blocks=blocks, measurements=m)
        label = f"budget={b / 2 ** 20:.1f}MB"
        res, prof = measure_step(model, batch, plan.policy, return_profiler=True, blocks=blocks)
        timelines[label] = prof.timeline
        rows.append({"policy": label, "kind": "budget", "plan": plan.policy, "checkpointed": plan.blocks,
                     "budget_bytes": b, "predicted_peak_bytes": int(plan.predicted_peak_bytes),
                     "fits": res["peak_bytes"] <= b, "rounds": plan.rounds, **res})
    plan_seconds = time.perf_counter() - t0

    # Step time: forward + backward + AdamW step, policies interleaved so machine load hits all alike.
    opt = model.configure_optimizers(0.1, 1e-4, (0.9, 0.95))
    times = {r["policy"]: [] for r in rows}
    cpu = {r["policy"]: [] for r in rows}
    run_pol = {r["policy"]: r.get("plan", r["policy"]) for r in rows}
    for rnd in range(cfg["steps"] + 1):
        for label, pol in run_pol.items():
            apply_checkpoint_policy(blocks, pol)
            t, c = time.perf_counter(), time.process_time()
            _, loss = model(*batch)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if rnd:
                times[label].append(dt)
                cpu[label].append(dc)
    apply_checkpoint_policy(blocks, "none")
    for r in rows:
        # Step time = this process's CPU time (min over steps): on a shared machine other processes inflate wall
        # time by tens of percent at random, CPU time much less (BLAS single-threaded). Wall time kept alongside.
        r["step_seconds"] = min(cpu[r["policy"]])
        r["step_seconds_median"] = statistics.median(cpu[r["policy"]])
        r["step_wall_seconds_min"] = min(times[r["policy"]])
        r["step_wall_seconds_median"] = statistics.median(times[r["policy"]])
        r["step_cpu_seconds_all"] = cpu[r["policy"]]
        r["step_seconds_all"] = times[r["policy"]]

    base = by.get("none")
    summary = {}
    if base is not None:
        for r in rows:
            r["activation_reduction"] = base["peak_saved_bytes"] / max(r["peak_saved_bytes"], 1)
            r["step_time_overhead"] = r["step_seconds"] / base["step_seconds"] - 1
        if "sqrt" in by:
            summary["sqrt"] = {"activation_reduction": by["sqrt"]["activation_reduction"],
                               "step_time_overhead": by["sqrt"]["step_time_overhead"]}
    summary["budgets_fit"] = all(r["fits"] for r in rows if r["kind"] == "budget")
    return {"config": cfg, "machine": machine_info(), "commit": git_commit(), "rows": rows, "summary": summary,
            "block_measurements": {k: v for k, v in m.items()}, "plan_seconds": plan_seconds,
            "_timelines": timelines, "_fmt": fmt_bytes}


def markdown(result):
    c = result["config"]
    head = (f"GPT n_layer={c['n_layer']} n_embd={c['n_embd']} n_head={c['n_head']} block_size={c['block_size']} "
            f"batch={c['batch_size']} vocab={c['vocab_size']} dropout={c['dropout']}; one training step "
            f"(forward + backward + AdamW); step time = process CPU time, min (median) of {c['steps']} interleaved steps; "
            f"machine {result['machine']['cpu']} x{result['machine']['nproc']}, commit {result['commit']}.")
    rows = []
    for r in result["rows"]:
        rows.append([r["policy"], r.get("plan", "") if r["kind"] == "budget" else "",
                     ",".join(map(str, r["checkpointed"])) or "-",
                     fmt_bytes(r["budget_bytes"]) if "budget_bytes" in r else "",
                     fmt_bytes(r["peak_bytes"]), fmt_bytes(r["peak_saved_bytes"]),
                     f"{r.get('activation_reduction', float('nan')):.2f}x", f"{r['step_seconds'] * 1e3:.0f} ({r['step_seconds_median'] * 1e3:.0f})",
                     f"{100 * r.get('step_time_overhead', float('nan')):+.1f}%",
                     ("yes" if r["fits"] else "NO") if "fits" in r else ""])
    table = markdown_table(["policy", "plan", "checkpointed blocks", "budget", "peak live", "peak activations",
                            "activation reduction", "step ms", "step-time overhead", "peak <= budget"], rows)
    return head + "\n\n" + table + "\n"


def write(result, out_dir, prefix, plots=True):
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, f"{prefix}.json"), "md": os.path.join(out_dir, f"{prefix}.md")}
    data = {k: v for k, v in result.items() if not k.startswith("_")}
    with open(paths["json"], "w") as f:
        json.dump(data, f, indent=1)
    with open(paths["md"], "w") as f:
        f.write(markdown(result))
    if plots:
        tl = result["_timelines"]
        budget_labels = [r["policy"] for r in result["rows"] if r["kind"] == "budget"]
        show = [k for k in ("none", "sqrt", "all") if k in tl] + budget_labels[len(budget_labels) // 2:][:1]
        paths["timeline"] = os.path.join(out_dir, f"{prefix}_timeline.png")
        c = result["config"]
        plot_timeline(paths["timeline"], {k: tl[k] for k in show},
                      title=f"memory timeline, one step, {c['n_layer']}-layer GPT (live solid, saved dashed)")
        paths["pareto"] = os.path.join(out_dir, f"{prefix}_pareto.png")
        plot_pareto(paths["pareto"], [(r["policy"], r["step_seconds"], r["peak_bytes"], r["peak_saved_bytes"])
                                      for r in result["rows"]],
                    title=f"peak memory vs step time, {c['n_layer']}-layer GPT")
    return paths


def run(args):
    cfg = {k: getattr(args, k) for k in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "vocab_size",
                                         "dropout", "policies", "budgets", "steps", "seed")}
    result = profile(cfg)
    paths = write(result, args.out_dir, args.prefix, plots=args.plots)
    print(markdown(result))
    for k, p in paths.items():
        print(f"wrote {p}")
    return 0 if result["summary"]["budgets_fit"] else 1
