"""tensorgrad.viz: the tape as a graph (node/edge counts of known graphs, labels, recorded grads, rendering)."""
import importlib.util
import re
import shutil

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import viz
from tensorgrad.autograd.gradcheck import gradcheck

from helpers import load_example

HAVE_DOT = shutil.which("dot") is not None and importlib.util.find_spec("graphviz") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz `dot` program or `graphviz` package not installed")


def net_221():
    """Seed example A: x, y, b1, b2 are constants (not on the tape); W1, W2 are the leaves."""
    return load_example("draw_graph_221").build_221()


def dot_counts(src):
    nodes = re.findall(r"^\s*n\d+ \[label=", src, flags=re.M)
    edges = re.findall(r"^\s*n\d+ -> n\d+;", src, flags=re.M)
    return len(nodes), len(edges)


def label_of(src, prefix):
    """The label of the node whose label starts with prefix (newlines decoded)."""
    for m in re.finditer(r'\[label="((?:[^"\\]|\\.)*)"', src):
        lab = m.group(1).replace("\\n", "\n")
        if lab.startswith(prefix):
            return lab
    raise AssertionError(f"no node labelled {prefix!r} in\n{src}")


def test_221_net_counts():
    loss, _ = net_221()
    # Functions: MatMul(W1,x) Add(+b1) Sigmoid MatMul(W2,a) Add(+b2) Sigmoid Sub(-y) Pow(**2) Mul(0.5*) = 9, leaves W1 W2.
    # Edges: one per function except MatMul(W2, a) which has two taped inputs: 8 + 2 = 10.
    assert viz.graph_stats(loss) == (11, 10)
    src = viz.to_dot(loss)
    assert dot_counts(src) == (11, 10)
    for op in ("MatMulBackward", "AddBackward", "SigmoidBackward", "SubBackward", "PowBackward", "MulBackward"):
        assert op in src


def test_diamond_reuse_counts():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = x.exp()
    y = (a + b).sum()
    # Sum, Add, Mul, Exp and the leaf x (once, though used twice); edges: Add->Sum, Mul->Add, Exp->Add, x->Mul, x->Exp.
    assert viz.graph_stats(y) == (5, 5)
    assert dot_counts(viz.to_dot(y)) == (5, 5)
    # x * x: one Mul node with two edges from the same leaf.
    z = (x * x).sum()
    assert viz.graph_stats(z) == (3, 3)


def test_leaf_and_constant_only():
    x = tg.tensor([1.0], requires_grad=True)
    assert viz.graph_stats(x) == (1, 0)
    assert viz.graph_stats(tg.tensor([1.0])) == (0, 0)


def test_labels_names_shapes_values():
    loss, named = net_221()
    src = viz.to_dot(loss, params=named)
    w1 = label_of(src, "W1")
    assert "(2, 2)" in w1 and "value [0.15, 0.2, 0.25, 0.3]" in w1
    assert "value 0.762" in label_of(src, "y_hat = SigmoidBackward").split("\n")  # ŷ = 0.762033
    assert "value 0.02831" in label_of(src, "MulBackward")  # the root shows its value
    # An unnamed leaf is "leaf"; > 4 elements show the norm, not values.
    v = tg.tensor(np.arange(6.0), requires_grad=True)
    s = viz.to_dot((v * 1.0).sum())
    lab = label_of(s, "leaf")
    assert "(6,)" in lab and f"|{np.linalg.norm(np.arange(6.0)):.4g}|" in lab
    # A tensor named via .name and found through retain_grad() labels its node.
    h = v.exp()
    h.name = "h"
    h.retain_grad()
    assert label_of(viz.to_dot(h.sum()), "h = ExpBackward")


def test_recorded_grads_per_node_and_no_side_effects():
    loss, named = net_221()
    W1, W2 = named["W1"], named["W2"]
    named["a"].retain_grad()
    src = viz.to_dot(loss, grads=True, params=named)
    # Gradients seen at each node (seed example A, exact float64 values).
    assert "grad -0.04315" in label_of(src, "z_o = AddBackward")                  # δ_o
    assert "grad [-0.001972, -0.003549, -0.002119, -0.003815]" in label_of(src, "W1")
    assert "grad 1" in label_of(src, "MulBackward")
    zh = label_of(src, "z_h = AddBackward")                                        # δ_h ≈ [-0.004, -0.004]
    vals = [float(v) for v in re.search(r"grad \[([^\]]*)\]", zh).group(1).split(",")]
    assert np.allclose(vals, [-0.003943, -0.004239], atol=5e-7)
    # The recorded pass touched no .grad (leaves, retained intermediates) and kept the tape.
    assert W1.grad is None and W2.grad is None and named["a"].grad is None
    loss.backward()
    np.testing.assert_allclose(W1.grad.numpy().ravel(), [-0.001972, -0.003549, -0.002119, -0.003815], atol=5e-7)
    ref_a = np.array(named["a"].grad.numpy())
    np.testing.assert_allclose(ref_a, W2.detach().numpy() * -0.0431525, rtol=1e-4)  # W2 * δ_o, counted once
    # Hooks were removed: a second backward-free draw after backward shows the leaves' .grad.
    assert "grad [-0.02791, -0.02926]" in label_of(viz.to_dot(loss), "W2")
    with pytest.raises(RuntimeError, match="retain_graph"):
        viz.to_dot(loss, grads=True)


def test_recorded_grads_keep_user_hooks():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    viz.to_dot(y.sum(), grads=True)
    assert len(seen) == 1 and y.grad_fn.hooks is not None and len(y.grad_fn.hooks) == 1


def test_dot_product_backward_regression():
    # MatMul 1-D @ 1-D (used by the 2-2-1 net's output neuron) raised IndexError in backward.
    a = tg.tensor(np.random.default_rng(0).standard_normal(3), requires_grad=True)
    b = tg.tensor(np.random.default_rng(1).standard_normal(3), requires_grad=True)
    assert gradcheck(lambda a, b: a @ b, [a, b])


def test_refuses_without_dot(monkeypatch, tmp_path):
    loss, _ = net_221()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    with pytest.raises(RuntimeError, match=r"'dot' program.*apt-get install -y graphviz"):
        viz.draw_graph(loss, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="dot"):
        viz.draw_graph(loss, tmp_path / "g.svg")
    assert dot_counts(viz.to_dot(loss)) == (11, 10)  # to_dot needs no binary


@needs_dot
def test_render_png_and_svg(tmp_path):
    loss, named = net_221()
    png = viz.draw_graph(loss, tmp_path / "g.png", grads=True, params=named)
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    svg = viz.draw_graph(loss, str(tmp_path / "g"), format="svg")
    assert svg.endswith("g.svg")
    text = open(svg).read()
    assert text.count('class="node"') == 11 and text.count('class="edge"') == 10


@needs_dot
def test_draw_graph_221load_example(tmp_path, capsys):
    load_example("draw_graph_221").main(["--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "11 nodes and 10 edges" in out and "loss = 0.028314" in out
    assert (tmp_path / "graph_221.png").stat().st_size > 1000
    assert (tmp_path / "graph_221.svg").stat().st_size > 1000
