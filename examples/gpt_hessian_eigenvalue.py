"""The top Hessian eigenvalue of a baby GPT's loss, by power iteration on Hessian-vector products.

    python examples/gpt_hessian_eigenvalue.py [--iters 200] [--tol 1e-5] [--train-steps 100]

The Hessian of the loss over all P parameters is never formed (P x P); each power-iteration step needs only
H v, a Hessian-vector product: one forward, one backward with create_graph=True (the gradient g as a graph),
then the gradient of <g, v> -- a second backward through the first, through the GPT's fused causal attention,
layer norms, GELU, embeddings and cross-entropy. v <- Hv / ||Hv||; the Rayleigh quotient v.Hv converges to the
eigenvalue of largest magnitude (the loss surface's sharpest direction). 2 / lambda_max is the largest learning rate
for which plain gradient descent is stable along that direction.

The model is tiny (2 layers, 2 heads, 32 wide, block 32, characters of the embedded corpus) and float64, so the
whole run takes seconds. The sharpness is measured at initialisation and again after --train-steps AdamW steps.
make_hvp(lib, ...) is written against PyTorch's API; the test runs the same power iteration on torch's twin of
the model (benchmarks/torch_gpt.py, copied weights, math attention) and compares.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# One BLAS thread unless set: the matrices are tiny and OpenBLAS's threads only add noise on a busy machine (an
# HVP here took 55 ms on one thread and several times that on two). Takes effect only when run as a script.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.data import BatchSampler, CharTokenizer, load_default_corpus  # noqa: E402
from tensorgrad.models import GPT, GPTConfig  # noqa: E402

CFG = dict(block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=True)


def make_hvp(lib, params, loss_fn):
    """hvp(vs) -> H vs for the loss loss_fn() over params (lists of NumPy arrays in params' order)."""
    def hvp(vs):
        loss = loss_fn()
        gs = lib.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * lib.tensor(v, dtype=g.dtype)).sum() for g, v in zip(gs, vs))
        return [h.detach().numpy().copy() for h in lib.autograd.grad(dot, params)]
    return hvp


def power_iteration(hvp, shapes, iters=100, seed=0, tol=0.0, shift=0.0):
    """Top (largest-magnitude) eigenvalue of H - shift I by power iteration, plus shift; returns (eigenvalue,
    Rayleigh quotients). Stops early once two successive Rayleigh quotients differ by less than tol (relative).
    With shift = the (negative) largest-magnitude eigenvalue, this finds the largest positive one."""
    if shift:
        base = hvp
        hvp = lambda vs: [h - shift * x for h, x in zip(base(vs), vs)]  # noqa: E731
    rng = np.random.default_rng(seed)
    v = [rng.standard_normal(s) for s in shapes]
    norm = np.sqrt(sum((x * x).sum() for x in v))
    v = [x / norm for x in v]
    lams = []
    for _ in range(iters):
        hv = hvp(v)
        lams.append(float(sum((a * b).sum() for a, b in zip(v, hv))) + shift)   # v.Hv with ||v|| = 1
        norm = np.sqrt(sum((x * x).sum() for x in hv))
        v = [x / norm for x in hv]
        if tol and len(lams) > 1 and abs(lams[-1] - lams[-2]) <= tol * abs(lams[-1] - shift):
            break
    return lams[-1], lams


def setup(seed=0, batch_size=8):
    text = load_default_corpus()[:200_000]
    tok = CharTokenizer.from_text(text)
    ids = np.array(tok.encode(text), dtype=np.int64)
    sampler = BatchSampler(ids[:180_000], ids[180_000:], CFG["block_size"], batch_size, seed=seed)
    tg.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, **CFG)).double()
    return model, sampler


def sharpness(model, X, Y, iters, seed=0, tol=0.0, shift=0.0):
    params = list(model.parameters())
    hvp = make_hvp(tg, params, lambda: model(X, Y)[1])
    return power_iteration(hvp, [tuple(p.shape) for p in params], iters, seed, tol, shift)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=200, help="at most this many HVPs per estimate")
    ap.add_argument("--tol", type=float, default=1e-5, help="stop when the Rayleigh quotient changes less (relative)")
    ap.add_argument("--train-steps", type=int, default=100)
    args = ap.parse_args(argv)
    model, sampler = setup()
    X, Y = sampler.get_batch("val")      # one fixed batch: the Hessian of the loss on it
    n = sum(p.numel() for p in model.parameters())
    print(f"baby GPT {CFG['n_layer']}L/{CFG['n_head']}H/{CFG['n_embd']}d, block {CFG['block_size']}, "
          f"{n:,} parameters, float64; power iteration on HVPs (at most {args.iters}, relative tol {args.tol:g})")
    out = {}
    for stage in ("init", "trained"):
        if stage == "trained":
            if not args.train_steps:
                break
            opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
            for _ in range(args.train_steps):
                x, y = sampler.get_batch("train")
                _, loss = model(x, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        loss = model(X, Y)[1].item()
        lam, lams = sharpness(model, X, Y, args.iters, tol=args.tol)
        label = "at init" if stage == "init" else f"after {args.train_steps} AdamW steps"
        print(f"{label:>22}: loss {loss:.4f}; largest-magnitude eigenvalue {lam:.5f} ({len(lams)} HVPs, Rayleigh "
              "quotients " + ", ".join(f"{x:.3f}" for x in lams[:3]) + f", ..., {lams[-1]:.5f})")
        top = lam
        if lam < 0:  # negative curvature dominates: the largest positive one is the top of H - lam I
            top, lams2 = sharpness(model, X, Y, args.iters, tol=args.tol, shift=lam)
            print(f"{'':>22}  largest positive eigenvalue {top:.5f} (power iteration on H - ({lam:.3f}) I, "
                  f"{len(lams2)} HVPs)")
        print(f"{'':>22}  lambda_max {top:.5f}: gradient descent is stable along it for lr < 2/lambda_max = "
              f"{2 / top:.4f}")
        out[stage] = {"loss": loss, "largest_magnitude": lam, "lambda_max": top, "rayleigh": lams}
    return out


if __name__ == "__main__":
    main()
