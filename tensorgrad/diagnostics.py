"""Gradient-flow diagnostics: are gradients vanishing or exploding through the depth of a model?

    loss.backward()
    report = grad_flow(model, plot="grad_flow.png")
    print(report)            # a table: one row per layer, then the verdict
    report.verdict           # 'vanishing' | 'exploding' | 'healthy'

What is measured
----------------
After backward, for every named parameter with a ``.grad``: the 2-norm of its gradient (and of the parameter
itself). Parameters are grouped into *layers* by their owning module (the name up to the last dot:
``layers.3.weight`` -> ``layers.3``). A layer is a module owning at least one *weight* (a parameter of 2 or
more dims: Linear/Conv/Embedding matrices; biases and norm gains are reported per parameter but do not make
a layer). The layer's norm is the 2-norm of all its weights' gradients together. Depth is the order of first
appearance in ``named_parameters()``, which is forward order for Sequential/ModuleList models, so the last
layer is the one nearest the loss and serves as the reference.

Verdicts (thresholds are the module constants below; change them if your model needs other ones)
-------------------------------------------------------------------------------------------------
For each layer, with ``ratio = norm / norm(last layer)``:

* ``exploding`` if the norm is not finite, or ``norm > EXPLODE_ABS`` (1e4), or ``ratio > EXPLODE_RATIO`` (1e3):
  the gradient grew more than a thousandfold on its way back from the loss.
* ``vanishing`` if ``norm < VANISH_ABS`` (1e-8: an SGD step of that size is below float32 rounding of weights
  of order 0.1) or ``ratio < VANISH_RATIO`` (1e-3): the layer learns more than a thousand times slower than
  the last one.
* ``healthy`` otherwise.

The overall verdict is ``exploding`` if any layer explodes, else ``vanishing`` if any layer vanishes, else
``healthy``. ``report.first_last_ratio`` (first layer's norm over the last's) is the one-number summary of
how much the gradient shrank (<1) or grew (>1) over the depth of the model.
"""
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["grad_flow", "GradFlowReport", "LayerRow", "ParamRow",
           "VANISH_RATIO", "EXPLODE_RATIO", "VANISH_ABS", "EXPLODE_ABS"]

VANISH_RATIO = 1e-3
EXPLODE_RATIO = 1e3
VANISH_ABS = 1e-8
EXPLODE_ABS = 1e4


@dataclass
class ParamRow:
    name: str
    layer: str
    shape: tuple
    grad_norm: float
    param_norm: float


@dataclass
class LayerRow:
    depth: int
    layer: str
    params: list      # names of the weights aggregated in this row
    grad_norm: float
    param_norm: float
    ratio_to_last: float
    verdict: str


@dataclass
class GradFlowReport:
    layers: list                     # LayerRow per layer, input side first
    params: list                     # ParamRow per named parameter with a grad
    verdict: str                     # overall: 'vanishing' | 'exploding' | 'healthy'
    first_last_ratio: float
    thresholds: dict = field(default_factory=dict)

    @property
    def rows(self):
        return self.layers

    def norms(self):
        return [r.grad_norm for r in self.layers]

    def table(self, max_rows=20):
        """The report as text: one line per layer (first and last max_rows//2 if there are more), then overall."""
        w = max([len("layer")] + [len(r.layer) for r in self.layers])
        head = f"{'depth':>5}  {'layer':<{w}}  {'|grad|':>10}  {'|param|':>10}  {'/last':>10}  verdict"
        lines = [head, "-" * len(head)]
        rows = self.layers
        if max_rows is not None and len(rows) > max_rows:
            k = max(1, max_rows // 2)
            rows = rows[:k] + [None] + rows[-k:]
        for r in rows:
            if r is None:
                lines.append(f"{'...':>5}  ({len(self.layers) - 2 * k} more layers)")
                continue
            lines.append(f"{r.depth:>5}  {r.layer:<{w}}  {r.grad_norm:>10.3e}  {r.param_norm:>10.3e}  "
                         f"{r.ratio_to_last:>10.3e}  {r.verdict}")
        lines.append(f"overall: {self.verdict} (first/last layer grad-norm ratio {self.first_last_ratio:.3e}; "
                     f"vanishing below {self.thresholds['vanish_ratio']:g}x or {self.thresholds['vanish_abs']:g}, "
                     f"exploding above {self.thresholds['explode_ratio']:g}x or {self.thresholds['explode_abs']:g})")
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    __repr__ = __str__


def _norm(arr):
    a = arr if isinstance(arr, np.ndarray) else arr.get()
    return float(np.sqrt(np.sum(np.square(a.astype(np.float64)))))


def _named_params(model):
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    if hasattr(model, "items"):
        return list(model.items())
    return list(model)


def _verdict(norm, ratio):
    if not math.isfinite(norm) or norm > EXPLODE_ABS or ratio > EXPLODE_RATIO:
        return "exploding"
    if norm < VANISH_ABS or ratio < VANISH_RATIO:
        return "vanishing"
    return "healthy"


def grad_flow(model, plot=None, title=None):
    """Per-layer gradient norms after backward with verdicts; see the module docstring.

    model: a Module (its ``named_parameters()``), a dict name -> tensor, or (name, tensor) pairs.
    plot: a path to save a log-scale bar chart of the layers' gradient norms by depth (matplotlib, Agg).
    Returns a GradFlowReport. Raises RuntimeError if no weight has a gradient (backward not run?).
    """
    params, groups, order = [], {}, []
    for name, p in _named_params(model):
        if p.grad is None:
            continue
        layer = name.rsplit(".", 1)[0] if "." in name else "(root)"
        params.append(ParamRow(name, layer, tuple(p.shape), _norm(p.grad.array), _norm(p.array)))
        if p.ndim >= 2:
            if layer not in groups:
                groups[layer] = []
                order.append(layer)
            groups[layer].append(params[-1])
    if not order:
        raise RuntimeError("grad_flow: no weight (parameter of 2+ dims) has a .grad; call loss.backward() first")

    def agg(rows, attr):
        return math.sqrt(sum(getattr(r, attr) ** 2 for r in rows))

    last = agg(groups[order[-1]], "grad_norm")
    layers = []
    for depth, layer in enumerate(order):
        gn = agg(groups[layer], "grad_norm")
        ratio = gn / last if last > 0 else (1.0 if gn == 0 else math.inf)
        layers.append(LayerRow(depth, layer, [r.name for r in groups[layer]], gn, agg(groups[layer], "param_norm"),
                               ratio, _verdict(gn, ratio)))
    verdicts = {r.verdict for r in layers}
    overall = "exploding" if "exploding" in verdicts else "vanishing" if "vanishing" in verdicts else "healthy"
    report = GradFlowReport(layers, params, overall, layers[0].ratio_to_last,
                            dict(vanish_ratio=VANISH_RATIO, explode_ratio=EXPLODE_RATIO, vanish_abs=VANISH_ABS,
                                 explode_abs=EXPLODE_ABS))
    if plot is not None:
        plot_grad_flow(report, plot, title=title)
    return report


def plot_grad_flow(report, path, title=None):
    """Log-scale bars of each layer's gradient norm by depth, coloured by verdict, with the thresholds."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

    norms = np.array(report.norms(), dtype=np.float64)
    finite_pos = norms[np.isfinite(norms) & (norms > 0)]
    floor = (finite_pos.min() / 10) if finite_pos.size else 1e-30
    shown = np.where(np.isfinite(norms) & (norms > 0), norms, floor)
    colors = {"healthy": "#4c9a2a", "vanishing": "#3b6fb6", "exploding": "#c0392b"}
    depth = np.arange(len(norms))
    fig = Figure(figsize=(max(6, min(14, 0.12 * len(norms) + 4)), 4))
    ax = fig.subplots()
    ax.bar(depth, shown, color=[colors[r.verdict] for r in report.layers], width=0.8)
    ax.plot(depth, shown, color="#333333", lw=0.8)
    last = norms[-1] if norms.size and norms[-1] > 0 else None
    if last is not None:
        ax.axhline(last * VANISH_RATIO, color=colors["vanishing"], ls="--", lw=0.8,
                   label=f"vanishing: < {VANISH_RATIO:g} x last layer")
        ax.axhline(last * EXPLODE_RATIO, color=colors["exploding"], ls="--", lw=0.8,
                   label=f"exploding: > {EXPLODE_RATIO:g} x last layer")
    zero = ~(np.isfinite(norms) & (norms > 0))
    if zero.any():
        ax.scatter(depth[zero], shown[zero], marker="v", color="k", zorder=3, label="0 or non-finite (drawn at floor)")
    ax.set_yscale("log")
    ax.set_xlabel("layer depth (0 = input side)")
    ax.set_ylabel("weight gradient 2-norm")
    ax.set_title(title or f"gradient flow: {report.verdict} (first/last = {report.first_last_ratio:.2e})")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
