"""Draw the tape of the 2-2-1 sigmoid net of seed example A (one forward, MSE loss ½(ŷ−y)²).

    python examples/draw_graph_221.py [--out-dir DIR]

Writes DIR/graph_221.png and DIR/graph_221.svg (default DIR: examples/output). Every box is a Function node
of the tape with its output shape; leaves (W1, W2) are ellipses with their values. Because we ask for
grads=True, draw_graph runs one recorded backward (retain_graph=True, no .grad touched) and each node shows
the gradient dL/d(output) that reached it: read δ_o = −0.043 at z_o (the output sigmoid's input) and
δ_h = [−0.004, −0.004] at z_h. Intermediate nodes show values because we pass their tensors by name in
``params`` (a node does not keep its output; ``t.retain_grad()`` would also let draw_graph find it).
Without the ``dot`` program, the DOT source is written to DIR/graph_221.dot instead.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorgrad as tg  # noqa: E402
from tensorgrad.viz import draw_graph, graph_stats, to_dot  # noqa: E402


def build_221():
    """Seed example A in float64: returns (loss, named tensors). Biases are held fixed (no grad)."""
    d = tg.float64
    x = tg.tensor([0.50, 0.90], dtype=d)
    y = tg.tensor(1.0, dtype=d)
    W1 = tg.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=d, requires_grad=True)
    b1 = tg.tensor([0.35, 0.35], dtype=d)
    W2 = tg.tensor([0.40, 0.45], dtype=d, requires_grad=True)
    b2 = tg.tensor(0.60, dtype=d)
    W1.name, W2.name = "W1", "W2"
    z_h = W1 @ x + b1
    a = z_h.sigmoid()
    z_o = W2 @ a + b2
    y_hat = z_o.sigmoid()
    loss = 0.5 * (y_hat - y) ** 2
    named = {"W1": W1, "W2": W2, "z_h": z_h, "a": a, "z_o": z_o, "y_hat": y_hat}
    return loss, named


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "output"))
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)

    loss, named = build_221()
    n, e = graph_stats(loss)
    print(f"2-2-1 sigmoid net: loss = {loss.item():.6f}; tape has {n} nodes and {e} edges")
    base = os.path.join(args.out_dir, "graph_221")
    try:
        for fmt in ("png", "svg"):
            print("wrote", draw_graph(loss, f"{base}.{fmt}", grads=True, params=named))
    except RuntimeError as err:
        print(f"(not rendered: {err})")
        with open(base + ".dot", "w") as f:
            f.write(to_dot(loss, grads=True, params=named))
        print("wrote", base + ".dot")
    loss.backward()
    print("after loss.backward(): dL/dW2 =", [round(v, 6) for v in named["W2"].grad.tolist()],
          " dL/dW1 =", [round(v, 6) for v in named["W1"].grad.reshape(-1).tolist()])


if __name__ == "__main__":
    main()
