"""tensorgrad.diagnostics.grad_flow: verdicts on real deep MLPs and on hand-set gradients, report and plot."""
import math

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import diagnostics as D
from tensorgrad.diagnostics import grad_flow

from helpers import load_example



@pytest.fixture(scope="module")
def ex():
    return load_example("grad_flow_deep_mlp")


def test_deep_sigmoid_vanishes(ex, tmp_path):
    rep = ex.measure(ex.SigmoidMLP, width=16, depth=40, plot=tmp_path / "sig.png")
    assert rep.verdict == "vanishing"
    assert len(rep.layers) == 41  # 40 hidden Linears + head
    assert rep.first_last_ratio < 1e-10  # 40 sigmoid layers: each multiplies the signal by <= ~0.25 * |W|
    assert rep.layers[0].verdict == "vanishing" and rep.layers[-1].verdict == "healthy"
    norms = rep.norms()
    assert norms[0] < norms[20] < norms[-2]  # shrinks monotonically (on average) from the loss backwards
    assert (tmp_path / "sig.png").stat().st_size > 1000


def test_relu_residual_is_healthy(ex):
    rep = ex.measure(ex.ResidualReLUMLP, width=16, depth=40)
    assert rep.verdict == "healthy", str(rep)
    assert all(r.verdict == "healthy" for r in rep.layers)
    assert rep.first_last_ratio > D.VANISH_RATIO


def test_unscaled_residual_explodes(ex):
    rep = ex.measure(ex.ResidualReLUMLP, width=32, depth=100, branch_scale=1.0)
    assert rep.verdict == "exploding"
    assert max(rep.norms()) > D.EXPLODE_ABS


def _fake(grads):
    """(name, tensor) pairs whose .grad is set by hand: {name: (shape, grad_scale)}."""
    out = []
    for name, (shape, g) in grads.items():
        p = tg.ones(*shape, requires_grad=True)
        if g is not None:
            p.grad = tg.full(shape, g)
        out.append((name, p))
    return out


def test_verdict_rules_and_rows():
    base = {"l0.weight": ((2, 2), 1.0), "l0.bias": ((2,), 5.0), "l1.weight": ((2, 2), 1.0),
            "l2.weight": ((2, 2), 1.0), "l2.bias": ((2,), 0.0), "frozen.weight": ((2, 2), None)}
    rep = grad_flow(_fake(base))
    assert rep.verdict == "healthy"
    assert [r.layer for r in rep.layers] == ["l0", "l1", "l2"]  # biases don't make layers; no-grad params skipped
    assert [r.name for r in rep.params] == ["l0.weight", "l0.bias", "l1.weight", "l2.weight", "l2.bias"]
    assert rep.layers[0].grad_norm == pytest.approx(2.0) and rep.params[1].grad_norm == pytest.approx(5 * math.sqrt(2))
    assert rep.rows is rep.layers

    rep = grad_flow(_fake({**base, "l0.weight": ((2, 2), 1e-4)}))  # ratio 1e-4 < 1e-3
    assert rep.verdict == "vanishing" and rep.layers[0].verdict == "vanishing"
    assert rep.first_last_ratio == pytest.approx(1e-4)
    rep = grad_flow(_fake({k: ((2, 2), 1e-9) for k in ("a.weight", "b.weight")}))  # equal, but below 1e-8
    assert rep.verdict == "vanishing"
    rep = grad_flow(_fake({**base, "l0.weight": ((2, 2), 2e3)}))  # ratio 2e3 > 1e3
    assert rep.verdict == "exploding" and rep.layers[0].verdict == "exploding"
    rep = grad_flow(_fake({k: ((2, 2), 1e5) for k in ("a.weight", "b.weight")}))  # equal, but above 1e4
    assert rep.verdict == "exploding"
    rep = grad_flow(_fake({**base, "l1.weight": ((2, 2), float("nan"))}))
    assert rep.verdict == "exploding"
    # exploding outranks vanishing in the overall verdict
    rep = grad_flow(_fake({"a.weight": ((2, 2), 1e-6), "b.weight": ((2, 2), 1e4), "c.weight": ((2, 2), 1.0)}))
    assert [r.verdict for r in rep.layers] == ["vanishing", "exploding", "healthy"] and rep.verdict == "exploding"


def test_report_text_module_and_plot(tmp_path):
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Sigmoid(), tg.nn.Linear(4, 2))
    tg.nn.functional.mse_loss(model(tg.randn(5, 3)), tg.zeros(5, 2)).backward()
    rep = grad_flow(model, plot=str(tmp_path / "gf.png"))
    assert [r.layer for r in rep.layers] == ["0", "2"]
    text = str(rep)
    assert "overall: " + rep.verdict in text and "|grad|" in text and text.count("\n") == 4
    assert (tmp_path / "gf.png").read_bytes()[:4] == b"\x89PNG"
    long = grad_flow(_fake({f"l{i}.weight": ((2, 2), 1.0) for i in range(50)}))
    assert "(30 more layers)" in str(long)
    assert np.all(np.isfinite(long.norms()))


def test_no_grads_is_an_error():
    model = tg.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="backward"):
        grad_flow(model)
