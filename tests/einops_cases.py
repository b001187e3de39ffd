"""Cases for tests/test_einops_compat.py: einops calls as public PyTorch code writes them, on inputs made from NumPy.

`import torch` here is whichever torch the process has: real torch inside pytest, tensorgrad when this file runs as
a program under the alias (`python -m tensorgrad.compat tests/einops_cases.py out.npz`), which writes every case's
results to out.npz. Each case returns a dict of arrays: its outputs and the gradients of its inputs (and parameters)
for a random upstream gradient, so that the test compares the same einops calls on both frameworks.
"""
import sys

import numpy as np
import torch
from torch import nn

import einops
from einops import einsum, pack, rearrange, reduce, repeat, unpack
from einops.layers.torch import EinMix, Rearrange, Reduce

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _leaf(shape, seed, dtype=np.float32):
    return torch.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


def _np(t):
    return t.detach().cpu().numpy()


def _backward(out, *leaves, seed=99):
    """out's value and the leaves' gradients for the upstream gradient w (a sum of out * w)."""
    w = torch.tensor(np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(_np(out).dtype))
    (out * w).sum().backward()
    return {"out": _np(out), **{f"grad{i}": _np(x.grad) for i, x in enumerate(leaves)}}


def _many(results):
    return {f"{i}.{k}": v for i, r in enumerate(results) for k, v in r.items()}


@case
def rearrange_patterns():
    x = _leaf((2, 3, 4, 6), 0)
    patterns = [("b c h w -> b h w c", {}), ("b c h w -> b (c h w)", {}), ("b c (h p) w -> b (h w) (p c)", {"p": 2}),
                ("b c h (w p1) -> (b p1) c h w", {"p1": 3}), ("b ... w -> w ... b", {}), ("... h w -> ... (w h)", {}),
                ("b c h w -> b c () h w 1", {}), ("b c (h h2) (w w2) -> b (c h2 w2) h w", {"h2": 2, "w2": 2})]
    results = []
    for pattern, lengths in patterns:
        x.grad = None
        results.append(_backward(rearrange(x, pattern, **lengths), x))
    # a list of tensors is stacked on a new first axis
    parts = [_leaf((3, 4), 10 + i) for i in range(5)]
    results.append(_backward(rearrange(parts, "n a b -> a (n b)"), *parts))
    return _many(results)


@case
def repeat_patterns():
    x = _leaf((3, 4), 1)
    patterns = [("h w -> h w c", {"c": 3}), ("h w -> (h 2) (w 3)", {}), ("h w -> (r h) w", {"r": 2}),
                ("h w -> b h w", {"b": 4}), ("h w -> h (w rep)", {"rep": 2}), ("... w -> ... w k", {"k": 2})]
    results = []
    for pattern, lengths in patterns:
        x.grad = None
        results.append(_backward(repeat(x, pattern, **lengths), x))
    # lucidrains' cls token: repeat a parameter over the batch
    cls = nn.Parameter(torch.tensor(np.random.default_rng(2).standard_normal((1, 1, 5)).astype(np.float32)))
    results.append(_backward(repeat(cls, "1 1 d -> b 1 d", b=3), cls))
    return _many(results)


@case
def reduce_all_reductions():
    # values far apart, so that max / min have no ties and prod stays finite
    x = torch.tensor(np.random.default_rng(3).permutation(60).reshape(2, 3, 10).astype(np.float32) / 30 + 0.5,
                     requires_grad=True)
    results = []
    for reduction in ("sum", "mean", "max", "min", "prod"):
        for pattern, lengths in [("b c n -> b c", {}), ("b c n -> c", {}), ("b c (n k) -> b c n", {"k": 2}),
                                 ("b c n -> b () n", {}), ("b c n -> ", {}), ("b ... -> ...", {})]:
            x.grad = None
            results.append(_backward(reduce(x, pattern, reduction, **lengths), x))
    mask = torch.tensor(np.random.default_rng(4).random((3, 4, 5)) > 0.3)
    for reduction in ("any", "all"):
        for pattern in ("a b c -> a", "a b c -> b c", "a b c -> a c"):
            results.append({"out": _np(reduce(mask, pattern, reduction))})
    # a callable reduction, as einops allows
    x.grad = None
    results.append(_backward(reduce(x, "b c n -> b n", lambda t, axes: t.logsumexp(dim=axes)), x))
    return _many(results)


@case
def einsum_patterns():
    q, k, v = _leaf((2, 3, 5, 4), 5), _leaf((2, 3, 6, 4), 6), _leaf((2, 3, 6, 4), 7)
    sim = einsum(q, k, "b h i d, b h j d -> b h i j")
    out = einsum(sim.softmax(dim=-1), v, "b h i j, b h j d -> b h i d")
    results = [_backward(out, q, k, v)]
    a, b = _leaf((4, 5), 8), _leaf((5,), 9)
    for pattern in ("i j, j -> i", "i j, j -> ", "i j, j -> j i", "i j, j -> i j"):
        a.grad = b.grad = None
        results.append(_backward(einsum(a, b, pattern), a, b))
    # torch.einsum itself, in the spellings lucidrains' models use (`from torch import einsum`)
    for pattern, shapes in [("b i d, b j d -> b i j", ((2, 3, 4), (2, 5, 4))), ("... i d, ... j d -> ... i j",
                            ((2, 3, 3, 4), (2, 3, 5, 4))), ("bhid,bhjd->bhij", ((1, 2, 3, 4), (1, 2, 5, 4))),
                            ("i,j->ij", ((3,), (4,))), ("b n d, d e -> b n e", ((2, 3, 4), (4, 5)))]:
        x, y = _leaf(shapes[0], 11), _leaf(shapes[1], 12)
        results.append(_backward(torch.einsum(pattern, x, y), x, y))
    return _many(results)


@case
def pack_unpack():
    cls, tokens, regs = _leaf((2, 4), 13), _leaf((2, 3, 3, 4), 14), _leaf((2, 2, 4), 15)
    packed, ps = pack([cls, tokens, regs], "b * d")
    a, b, c = unpack(packed * 2, ps, "b * d")
    out = torch.cat([a.reshape(2, -1), b.reshape(2, -1) * 3, c.reshape(2, -1)], dim=1)
    r = _backward(out, cls, tokens, regs)
    r["packed_shape"] = np.array(packed.shape)
    r["ps"] = np.array([len(s) for s in ps] + [n for s in ps for n in s])
    x = _leaf((3, 5), 16)
    packed, ps = pack([x], "* d")
    (y,) = unpack(packed, ps, "* d")
    return {**r, **_many([_backward(y, x)])}


@case
def layers_and_training():
    rng = np.random.default_rng(17)
    model = nn.Sequential(
        Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=2, p2=2),  # ViT's patch embedding
        nn.LayerNorm(12), nn.Linear(12, 8),
        EinMix("b n d -> b n e", weight_shape="d e", bias_shape="e", d=8, e=6),
        EinMix("b (n k) e -> b n f", weight_shape="k e f", k=2, e=6, f=5),  # pre-reshape, no bias
        Reduce("b n f -> b f", "mean"), nn.GELU(), nn.Linear(5, 3),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    x = torch.tensor(rng.standard_normal((2, 3, 4, 8)).astype(np.float32), requires_grad=True)
    target = torch.tensor(rng.integers(0, 3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    r = {}
    for step in range(2):
        opt.zero_grad()
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, target)
        loss.backward()
        r[f"logits{step}"], r[f"loss{step}"] = _np(logits), _np(loss)
        opt.step()
    r.update({f"grad.{n}": _np(p.grad) for n, p in model.named_parameters()})
    r.update({f"param.{n}": _np(p) for n, p in model.named_parameters()})
    r["grad.x"] = _np(x.grad)
    # the layers' reductions and the max pool they spell
    y = _leaf((2, 3, 4, 6), 18)
    r.update(_many([_backward(Reduce("b c (h h2) (w w2) -> b c h w", "max", h2=2, w2=3)(y), y)]))
    r["repr"] = np.array([repr(model[0]), repr(model[3]), str(einops.parse_shape(x, "b c _ w"))])
    return r


@case
def gradcheck_float64():
    # einops' recipe (reshape, permute, reduce, expand) as one function, checked numerically in float64
    x = torch.tensor(np.random.default_rng(19).standard_normal((2, 3, 4)), requires_grad=True)

    def f(t):
        y = rearrange(t, "a b (c d) -> (a d) b c", d=2)
        return repeat(reduce(y, "n b c -> n c", "max") * reduce(y, "n b c -> n c", "prod"), "n c -> n c r", r=2)

    return {"ok": np.array(torch.autograd.gradcheck(f, (x,)))}


def run_all():
    return {f"{name}/{k}": v for name, fn in CASES.items() for k, v in fn().items()}


if __name__ == "__main__":
    np.savez(sys.argv[1], **run_all())
