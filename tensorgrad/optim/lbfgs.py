"""L-BFGS with PyTorch's API and rule (torch.optim.LBFGS): step(closure) runs up to max_iter quasi-Newton iterations,
re-evaluating the closure; no line search (a fixed step lr) or a strong-Wolfe line search with cubic interpolation.

The algorithm is Nocedal & Wright's (Numerical Optimization, 2nd ed.): the two-loop recursion over the last
history_size curvature pairs (Algorithm 7.4) with H0 = (s.y / y.y) I, a pair kept only when s.y > 1e-10; the
line search of Algorithms 3.5/3.6 with c1 = 1e-4, c2 = 0.9, at most 25 evaluations. torch's choices, followed so
that the iterates agree: the first step is min(1, 1/|g|_1) * lr, the bracketing phase extrapolates by cubic
interpolation clamped to [t + 0.01 (t - t_prev), 10 t], the zoom phase keeps the trial step 10% of the bracket
away from its ends, the search's evaluations count against max_eval, and the stopping tests (max |g| <= tolerance_grad, directional derivative > -tolerance_change,
max |t d| <= tolerance_change, |loss change| < tolerance_change, max_eval evaluations in one step).

Everything is computed on one flat array of all parameters (their dtype, their device); scalars stay NumPy scalars
of that dtype, as torch's stay 0-d tensors, so float32 runs round as torch's do. State (self.state[first param])
holds torch's keys: func_evals, n_iter, d, t, old_dirs, old_stps, ro, H_diag, prev_flat_grad, prev_loss, al.
"""
from ..autograd.grad_mode import no_grad, enable_grad
from ..tensor import Tensor
from ._common import sparse_grad
from .optimizer import Optimizer


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to ``bounds`` (default:
    the interval between x1 and x2); the interval's middle when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc ** 0.5
    if x1 <= x2:
        m = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        m = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(m, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Step t along d satisfying the strong Wolfe conditions from (f, g, gtd) at t = 0; evaluate(t) -> (f, g) at
    x + t d. Returns (f, g, t, evaluations)."""
    d_norm = abs(d).max()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    it = 0
    # Bracketing: grow t until an interval must hold a point satisfying the conditions (or t satisfies them)
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            bracket, b_f, b_g, b_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, b_f, b_g, b_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:  # (after the test above: a step meeting both conditions is taken as it is)
            bracket, b_f, b_g, b_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        it += 1
    if it == max_ls:
        bracket, b_f, b_g, b_gtd = [0, t], [f, f_new], [g, g_new], [gtd, gtd_new]
    # Zoom: shrink the bracket [low, high] (low: the lower value) by cubic interpolation
    stalled = False
    low, high = (0, 1) if b_f[0] <= b_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(bracket[0], b_f[0], b_gtd[0], bracket[1], b_f[1], b_gtd[1])
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too close to an end: move it in, unless the last move did progress
            if stalled or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d)
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= b_f[low]:
            bracket[high], b_f[high], b_g[high], b_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if b_f[0] <= b_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], b_f[high], b_g[high], b_gtd[high] = bracket[low], b_f[low], b_g[low], b_gtd[low]
            bracket[low], b_f[low], b_g[low], b_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return b_f[low], b_g[low], bracket[low], evals


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError(f"LBFGS: a Tensor lr must have one element, got shape {tuple(lr.shape)}")
        if not 0.0 <= float(lr):
            raise ValueError(f"LBFGS: invalid learning rate {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # -- the flat view of all parameters --------------------------------------------------------------
    def _flat_grad(self):
        xp = self._params[0]._xp
        return xp.concatenate([xp.zeros(p.array.size, p.array.dtype) if p.grad is None else
                               xp.asarray(p.grad.array.to_dense() if sparse_grad(p) else p.grad.array,
                                          dtype=p.array.dtype).reshape(-1) for p in self._params])

    def _add(self, t, d):
        off = 0
        for p in self._params:
            n = p.array.size
            p.array += (t * d[off:off + n]).reshape(p.array.shape)
            p._bump()
            off += n

    def _evaluate(self, closure, x, t, d):
        """Loss and flat gradient at x + t d; the parameters are put back to x."""
        self._add(t, d)
        loss = self._loss(closure)
        g = self._flat_grad()
        for p, a in zip(self._params, x):
            p.array[...] = a
            p._bump()
        return loss, g

    @staticmethod
    def _loss(closure):
        with enable_grad():
            return float(closure())

    # -- step ------------------------------------------------------------------------------------------
    def step(self, closure):
        """One L-BFGS step (up to max_iter iterations); closure() must zero the gradients, compute the loss,
        call backward and return the loss. Returns the closure's first loss, as torch."""
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search = group["history_size"], group["line_search_fn"]
        state = self._state(self._params[0])
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            first = closure()
        loss = float(first)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if abs(g).max() <= tol_grad:
            return first

        arr = lambda k: None if state.get(k) is None else state[k].array  # noqa: E731
        d, t, prev_g, prev_loss = arr("d"), state.get("t"), arr("prev_flat_grad"), state.get("prev_loss")
        old_dirs = [v.array for v in state.get("old_dirs", [])]
        old_stps = [v.array for v in state.get("old_stps", [])]
        ro, h_diag = list(state.get("ro", [])), state.get("H_diag")
        al = state.get("al")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -g
                old_dirs, old_stps, ro, h_diag = [], [], [], 1
            else:
                y = g - prev_g
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # a curvature pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                if al is None:
                    al = [None] * history_size
                q = -g
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]
            prev_g = g.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = g.dot(d)
            if gtd > -tol_change:  # not a descent direction any more
                break

            ls_evals = 0
            if line_search is not None:
                x0 = [p.array.copy() for p in self._params]
                # (the search may use what is left of max_eval: with none left it takes the better of t and 0)
                loss, g, t, ls_evals = _strong_wolfe(lambda step: self._evaluate(closure, x0, step, d), t, d, loss,
                                                     g, gtd, max_ls=max_eval - evals)
                self._add(t, d)
                opt_cond = abs(g).max() <= tol_grad
            else:
                self._add(t, d)
                opt_cond = False
                if n_iter != max_iter:  # (the last iteration's loss is the next step's first evaluation)
                    loss = self._loss(closure)
                    g = self._flat_grad()
                    opt_cond = abs(g).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals
            if (n_iter == max_iter or evals >= max_eval or opt_cond or abs(d * t).max() <= tol_change
                    or abs(loss - prev_loss) < tol_change):
                break

        wrap = lambda a: None if a is None else Tensor._make(a, None)  # noqa: E731
        state.update(d=wrap(d), t=t, old_dirs=[wrap(a) for a in old_dirs], old_stps=[wrap(a) for a in old_stps],
                     ro=ro, H_diag=h_diag, prev_flat_grad=wrap(prev_g), prev_loss=prev_loss, al=al)
        return first
