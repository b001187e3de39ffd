"""Float64 central-difference gradient check.

Checks d<c, f(x)>/dx for a fixed random cotangent c against one backward(): exact for every input
element, with 2 forwards per element instead of one per element of the Jacobian.

Complex128 inputs and complex outputs as torch.autograd.gradcheck takes them: with a complex cotangent c of a complex
output y the function checked is Re(sum(conj(c) y)) (what backward(c) differentiates, in torch's convention), and a
complex input z's gradient dL/dRe z + i dL/dIm z is compared part by part with the differences along Re z and Im z.
"""
import numpy as np
from ..tensor import Tensor
from .engine import grad as autograd_grad
from .grad_mode import no_grad, enable_grad
from . import forward_ad as fwAD


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True, *, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None):
    """torch.autograd.gradcheck's keywords: fast_mode picks nothing here (the one check is already a random
    projection of the outputs, exact per input element); nondet_tol and check_undefined_grad relax or add nothing
    (one backward is run, on defined cotangents); check_forward_ad compares the forward-mode product J v for a
    random v with a central difference along v; the vmap checks (check_batched_*) are refused."""
    if check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError("gradcheck: check_batched_grad / check_batched_forward_grad (vmap over the "
                                  "backward) are not supported")
    if masked:
        raise NotImplementedError("gradcheck: masked=True (sparse masked semantics) is not supported")
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    for x in diff:
        if x.dtype != np.float64 and x.dtype != np.complex128:
            raise TypeError(f"gradcheck: inputs must be float64 (or complex128) for a meaningful finite difference; "
                            f"got {x.dtype}")

    def outputs():
        out = fn(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def fail(msg):
        if raise_exception:
            raise AssertionError(msg)
        return False

    rng = np.random.default_rng(seed)
    if check_forward_ad and not _forward_ok(fn, inputs, diff, outputs, rng, eps, atol, rtol, fail):
        return False
    if not check_backward_ad:
        return True
    outs = outputs()
    cots = [_random(rng, o.shape, o.dtype.kind == "c") for o in outs]

    def project(os_):
        return sum(float((np.asarray(o.detach().numpy()).astype(c.dtype) * c.conj()).real.sum())
                   for o, c in zip(os_, cots))

    pairs = [(o, Tensor._from(c)) for o, c in zip(outs, cots) if o.requires_grad]
    analytic = autograd_grad([p[0] for p in pairs], diff, grad_outputs=[p[1] for p in pairs], allow_unused=True)
    for i, (x, ga) in enumerate(zip(diff, analytic)):
        if check_grad_dtypes and ga is not None and ga.dtype != x.dtype:
            return fail(f"gradcheck: input {i} is {x.dtype} but its gradient is {ga.dtype}")
        ga = np.zeros(x.shape, x.dtype) if ga is None else ga.detach().numpy()
        num = np.zeros(x.shape, x.dtype)
        flat = x.array.reshape(-1)  # a view: we perturb in place
        nflat = num.reshape(-1)
        with no_grad():
            for j in range(flat.size):
                orig = flat[j]
                for step in ((1, 1j) if x.dtype.kind == "c" else (1,)):  # (along Re z, then Im z)
                    flat[j] = orig + step * eps
                    fp = project(outputs())
                    flat[j] = orig - step * eps
                    fm = project(outputs())
                    flat[j] = orig
                    nflat[j] += step * (fp - fm) / (2 * eps)
        if not np.allclose(ga, num, atol=atol, rtol=rtol):
            err = np.abs(ga - num).max()
            return fail(f"gradcheck: input {i} (shape {tuple(x.shape)}): analytic and numerical gradients differ "
                        f"(max abs err {err:.3e})\nanalytic:\n{ga}\nnumerical:\n{num}")
    return True


def _forward_ok(fn, inputs, diff, outputs, rng, eps, atol, rtol, fail):
    """J v by forward-mode AD (dual tensors) against (f(x + eps v) - f(x - eps v)) / 2 eps, for one random real v
    per differentiable input."""
    tangents = [_random(rng, x.shape, False).astype(x.dtype) for x in diff]
    with fwAD.dual_level():
        duals = iter([fwAD.make_dual(x, Tensor._from(t)) for x, t in zip(diff, tangents)])
        out = fn(*[next(duals) if isinstance(x, Tensor) and x.requires_grad else x for x in inputs])
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        jv = [fwAD.unpack_dual(o).tangent for o in out]
    jv = [np.zeros(o.shape, o.dtype) if t is None else t.detach().numpy() for o, t in zip(out, jv)]
    flats = [x.array for x in diff]  # perturbed in place along v, then restored
    origs = [f.copy() for f in flats]
    with no_grad():
        for f, o, t in zip(flats, origs, tangents):
            f[...] = o + eps * t
        fp = [np.array(y.detach().numpy()) for y in outputs()]
        for f, o, t in zip(flats, origs, tangents):
            f[...] = o - eps * t
        fm = [np.array(y.detach().numpy()) for y in outputs()]
        for f, o in zip(flats, origs):
            f[...] = o
    for k, (a, p, m) in enumerate(zip(jv, fp, fm)):
        num = (p - m) / (2 * eps)
        if not np.allclose(a, num, atol=atol, rtol=rtol):
            return fail(f"gradcheck: output {k}: forward-mode J v and the numerical directional derivative differ "
                        f"(max abs err {np.abs(a - num).max():.3e})\nforward AD:\n{a}\nnumerical:\n{num}")
    return True


def _random(rng, shape, complex_):
    r = rng.standard_normal(shape)
    return r + 1j * rng.standard_normal(shape) if complex_ else r


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True, *,
                  gen_non_contig_grad_outputs=False, nondet_tol=0.0, check_undefined_grad=True,
                  check_grad_dtypes=False, check_batched_grad=False, check_fwd_over_rev=False,
                  check_rev_over_rev=True, fast_mode=False, masked=False):
    """torch.autograd.gradgradcheck: gradcheck of the first derivative. The function checked is
    (inputs, grad_outputs) -> autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True): its gradient
    w.r.t. the inputs (the double backward of every op) and w.r.t. grad_outputs, against central differences in
    float64. grad_outputs default to random float64 tensors that require grad."""
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    outs = func(*inputs)
    outs = [o for o in (outs if isinstance(outs, (tuple, list)) else [outs]) if o.requires_grad]
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        grad_outputs = [Tensor._from(_random(rng, o.shape, o.dtype.kind == "c"), requires_grad=True) for o in outs]
    else:
        grad_outputs = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
    n = len(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivative(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():  # gradcheck's finite differences run under no_grad; the first derivative needs a graph
            os_ = func(*xs)
            os_ = [o for o in (os_ if isinstance(os_, (tuple, list)) else [os_]) if o.requires_grad]
            gs = autograd_grad(os_, [xs[i] for i in diff], list(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    if check_fwd_over_rev:
        raise NotImplementedError("gradgradcheck: check_fwd_over_rev is not supported")
    if not check_rev_over_rev:
        return True
    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, seed=seed,
                     raise_exception=raise_exception, check_grad_dtypes=check_grad_dtypes,
                     check_batched_grad=check_batched_grad, masked=masked)
