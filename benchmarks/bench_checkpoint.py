"""Activation checkpointing on a 12-layer GPT (CPU): peak / activation bytes and step time per policy, and the
byte-budget planner at 5 budgets. Writes benchmarks/results/checkpoint_policies.{json,md} and checkpoint_policies_{timeline,pareto}.png.

    python benchmarks/bench_checkpoint.py            # same as: tensorgrad profile (defaults below)

BLAS runs single-threaded (set below, before NumPy loads): on a shared 2-core machine multi-threaded BLAS
makes step times noisy by an order of magnitude.
"""
import os
import sys

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import argparse  # noqa: E402

from tensorgrad.profiler import cli  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command")
    cli.add_parser(sub)
    args = ap.parse_args(["profile"] + list(sys.argv[1:] if argv is None else argv))
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
