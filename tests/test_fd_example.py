"""examples/backprop_vs_finite_differences.py: its FD gradients equal backprop's; a tiny timing run works."""
import json
import math
import os

import numpy as np
import pytest

import tensorgrad as tg

from helpers import load_example

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def ex():
    return load_example("backprop_vs_finite_differences")


@pytest.mark.parametrize("width", [1, 5])
def test_fd_equals_backprop_float64(ex, width):
    params = ex.make_mlp(width, seed=3)
    X, Y = ex.make_data(seed=4)
    assert all(p.dtype == tg.float64 for p in params)

    def loss_fn(ps):
        return ex.mlp_loss(ps, X, Y)

    before = [p.detach().numpy().copy() for p in params]
    g_bp = ex.backprop_grads(loss_fn, params)
    g_fd = ex.fd_grads(loss_fn, params, eps=1e-6)
    assert [g.shape for g in g_fd] == [p.shape for p in params]
    for a, b in zip(g_bp, g_fd):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)
    for p, b0 in zip(params, before):  # FD restored every perturbed parameter exactly
        np.testing.assert_array_equal(p.detach().numpy(), b0)
    assert ex.num_params(params) == 8 * width + width + width * width + width + width + 1


def test_compare_row(ex):
    row = ex.compare(3, repeats=2)
    P = 8 * 3 + 3 + 9 + 3 + 3 + 1
    assert row["params"] == P and row["fd_forwards"] == 2 * P
    assert row["max_abs_diff"] < 1e-8 * max(1.0, row["max_abs_grad"])
    for k in ("forward_s", "backprop_s", "fd_s"):
        assert row[k] > 0
    assert "FD/backprop" in ex.format_table([row])


def test_backward_forward_ratio_tiny(ex):
    r = ex.backward_forward_ratio(steps=1, warmup=0, gpt=(1, 2, 16, 8, 2))
    assert r["backward_s"] > 0 and math.isfinite(r["backward_over_forward"])
    assert r["model"]  # names what was measured (GPT, or the MLP fallback)


def test_plot_and_json_shape(ex, tmp_path):
    rows = [ex.compare(w, repeats=1) for w in (1, 2)]
    png = ex.plot(rows, str(tmp_path / "p.png"))
    assert open(png, "rb").read(4) == b"\x89PNG"
    path = os.path.join(ROOT, "benchmarks", "results", "backprop_vs_fd.json")
    if os.path.exists(path):  # the committed results: well-formed, FD cost grows with P, gradients agree
        res = json.load(open(path))
        assert res["machine"]["commit"] and res["rows"]
        ps = [r["params"] for r in res["rows"]]
        assert ps == sorted(ps) and res["rows"][-1]["fd_s"] > res["rows"][0]["fd_s"]
        assert all(r["max_abs_diff"] < 1e-6 for r in res["rows"])
