"""F.ctc_loss / nn.CTCLoss against torch: losses and the gradient torch returns for log_probs (its kernel's, which
assumes log_softmax inputs), every reduction, padded and concatenated targets, lengths as tensors and tuples, repeated
labels, empty targets, tight and impossible alignments (inf, NaN gradients, zero_infinity), the unbatched form, the
errors torch raises; float64 gradcheck through log_softmax (where torch's gradient is the true one) and the refused
double backward (torch has none either)."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import F, FLOATS, check_op, copy_to_torch, double_backward_raises, gradcheck_op, raises


def _log_probs(T, N, C, seed, scale=2.0):
    x = np.random.default_rng(seed).standard_normal((T, N, C)) * scale
    return torch.tensor(x).log_softmax(-1).numpy()


def _case(seed, N=4, C=6, S=5, blank=0):
    """Random lengths (one target of length 0, input lengths up to T), targets avoiding the blank, some repeats."""
    rng = np.random.default_rng(seed)
    tl = rng.integers(0, S + 1, N)
    tl[0] = 0
    tl[-1] = S
    labels = [c for c in range(C) if c != blank]
    tgt = rng.choice(labels, (N, S))
    tgt[-1, 1] = tgt[-1, 0]  # a repeated label: needs a blank between, one frame more
    need = tl + np.array([(np.diff(t[:n]) == 0).sum() for t, n in zip(tgt, tl)])
    T = int(2 * S + 3)
    il = np.minimum(T, need + rng.integers(0, 6, N))
    il[1] = T
    return T, tgt, il, tl


def _ctc(blank=0, reduction="mean", zero_infinity=False, layout="padded", lengths="tensor"):
    def fn(lp, tgt, il, tl):
        if layout == "concat":
            n = tl.tolist()
            tgt = (torch.cat if isinstance(lp, torch.Tensor) else tg.cat)([tgt[i, :n[i]] for i in range(len(n))])
        if lengths == "tuple":
            il, tl = tuple(il.tolist()), tuple(tl.tolist())
        return F(lp).ctc_loss(lp, tgt, il, tl, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    return fn


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concat"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_torch(dtype, reduction, layout, seed):
    blank = [0, 3, 5][seed]  # the blank anywhere in the class range, not only 0
    T, tgt, il, tl = _case(seed, blank=blank)
    lp = _log_probs(T, len(il), 6, seed)
    check_op(_ctc(blank, reduction, layout=layout, lengths="tuple" if seed == 1 else "tensor"),
             inputs=[lp, tgt, il, tl], dtype=dtype, atol=1e-5 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("dtype", FLOATS)
def test_long_sequences_against_torch(dtype):
    """A realistic speech shape: T=200 frames, 30 classes, targets up to 40 labels."""
    rng = np.random.default_rng(5)
    N = 6
    lp = _log_probs(200, N, 30, 5, scale=3.0)
    il, tl = rng.integers(120, 201, N), rng.integers(20, 41, N)
    check_op(_ctc(), inputs=[lp, rng.integers(1, 30, (N, 40)), il, tl], dtype=dtype,
             atol=1e-4 if dtype == np.float32 else 1e-9, rtol=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_tight_and_impossible_alignments(zero_infinity):
    """Input lengths exactly 2S+1, exactly S + repeats (the fewest frames a target fits in), one frame fewer
    (impossible: inf loss, NaN gradient for its frames unless zero_infinity zeroes both), and an empty input."""
    tgt = np.array([[1, 1, 2, 2], [1, 2, 3, 4], [3, 3, 3, 3], [2, 2, 1, 1], [1, 2, 1, 2], [2, 1, 1, 1]])
    tl = np.array([4, 4, 4, 4, 3, 1])
    il = np.array([9, 4, 7, 5, 0, 0])  # 2S+1; S; S+3 repeats; one short of S+2; empty input, non-empty target
    lp = _log_probs(9, 6, 5, 7)
    for reduction in ("none", "sum", "mean"):
        tg_out, th_out, g, gt = check_op(_ctc(reduction=reduction, zero_infinity=zero_infinity),
                                         inputs=[lp, tgt, il, tl])
    out = _ctc(reduction="none", zero_infinity=zero_infinity)(tg.tensor(lp), tg.tensor(tgt), tg.tensor(il),
                                                               tg.tensor(tl)).numpy()
    assert np.isfinite(out[:3]).all()
    assert (out[3:] == 0).all() if zero_infinity else np.isinf(out[3:]).all()
    assert zero_infinity or np.isnan(g[0][:5, 3]).all() and not np.isnan(g[0][5:, 3]).any()


def test_empty_targets_and_inputs():
    """Target length 0 (only blanks), input length 0 with an empty target (-0.0, no gradient), all in one batch."""
    lp = _log_probs(5, 3, 4, 3)
    tgt = np.array([[1, 2], [3, 3], [2, 1]])
    for reduction in ("none", "mean"):
        check_op(_ctc(reduction=reduction), inputs=[lp, tgt, np.array([5, 0, 3]), np.array([0, 0, 2])])
    out = F(tg.ones(1)).ctc_loss(tg.tensor(lp), tg.tensor(tgt), [5, 0, 3], [0, 0, 2], reduction="none").numpy()
    want = torch.nn.functional.ctc_loss(torch.tensor(lp), torch.tensor(tgt), [5, 0, 3], [0, 0, 2],
                                        reduction="none").numpy()
    np.testing.assert_array_equal(np.signbit(out), np.signbit(want))


@pytest.mark.parametrize("dtype", FLOATS)
def test_unbatched(dtype):
    """(T, C) log_probs with a 1-d target, 0-d or 1-element lengths; 'none' gives a 0-d loss."""
    lp = _log_probs(7, 1, 5, 4)[:, 0]
    tgt = np.array([1, 4, 4])
    for reduction in ("none", "mean", "sum"):
        check_op(lambda x, t, i, n: F(x).ctc_loss(x, t, i, n, reduction=reduction),
                 inputs=[lp, tgt, np.array(7), np.array(3)], dtype=dtype)
        check_op(lambda x, t, i, n: F(x).ctc_loss(x, t, i, n, reduction=reduction),
                 inputs=[lp, tgt[None], np.array([6]), np.array([3])], dtype=dtype)


def test_through_log_softmax_matches_torch_and_trains():
    """What a model does: logits -> log_softmax -> ctc_loss, the gradient reaching the logits as torch's; a few SGD
    steps of a linear layer on it lower the loss the same way in both."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 3, 8))
    tgt, il, tl = rng.integers(1, 5, (3, 4)), np.array([12, 10, 9]), np.array([4, 3, 2])
    check_op(lambda a, t, i, n: F(a).ctc_loss(a.log_softmax(-1), t, i, n), inputs=[x, tgt, il, tl])
    lin, tlin = tg.nn.Linear(8, 5).double(), torch.nn.Linear(8, 5).double()
    copy_to_torch(lin, tlin)
    crit, tcrit = tg.nn.CTCLoss(blank=0), torch.nn.CTCLoss(blank=0)
    losses = []
    for lib_, m, c, opt in ((tg, lin, crit, tg.optim.SGD(lin.parameters(), lr=0.1)),
                            (torch, tlin, tcrit, torch.optim.SGD(tlin.parameters(), lr=0.1))):
        run = []
        for _ in range(5):
            opt.zero_grad()
            loss = c(m(lib_.tensor(x)).log_softmax(-1), lib_.tensor(tgt), lib_.tensor(il), lib_.tensor(tl))
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    assert losses[0][-1] < losses[0][0]


def test_module_arguments():
    m, tm = tg.nn.CTCLoss(blank=2, reduction="sum", zero_infinity=True), torch.nn.CTCLoss(2, "sum", True)
    assert (m.blank, m.reduction, m.zero_infinity) == (tm.blank, tm.reduction, tm.zero_infinity)
    lp = _log_probs(3, 2, 4, 0)
    args = ([[1, 1], [3, 1]], [3, 2], [2, 2])  # [1, 1] needs 3 frames (a blank between), [3, 1] exactly 2
    got = m(tg.tensor(lp), tg.tensor(args[0]), args[1], args[2])
    want = tm(torch.tensor(lp), torch.tensor(args[0]), args[1], args[2])
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    assert list(m.state_dict()) == list(tm.state_dict()) == []


def test_gradcheck_and_no_double_backward():
    rng = np.random.default_rng(0)
    tgt, il, tl = rng.integers(1, 4, (3, 3)), np.array([7, 5, 6]), np.array([3, 2, 0])
    ctc = lambda x: F(x).ctc_loss(x.log_softmax(-1), tg.tensor(tgt), tg.tensor(il), tg.tensor(tl),  # noqa: E731
                                  reduction="sum")
    gradcheck_op(ctc, [(7, 3, 4)])
    gradcheck_op(lambda x: F(x).ctc_loss(x.log_softmax(-1), tg.tensor(tgt.ravel()[:5]), (7, 5, 6), (3, 2, 0),
                                         reduction="none"), [(7, 3, 4)], seed=1)
    double_backward_raises(ctc, [tg.tensor(rng.standard_normal((7, 3, 4)), requires_grad=True)], "CTCLoss")
    with torch.autograd.set_grad_enabled(True):  # torch refuses the second derivative as well
        x = torch.randn(7, 3, 4, dtype=torch.float64, requires_grad=True)
        g, = torch.autograd.grad(torch.nn.functional.ctc_loss(x.log_softmax(-1), torch.tensor(tgt), tuple(il),
                                                              tuple(tl)), x, create_graph=True)
        with pytest.raises(RuntimeError):
            torch.autograd.grad(g.sum(), x)


def _both_raise(fn, exc, *patterns):
    """torch raises exc for fn, and tensorgrad raises it too with a message naming ctc_loss and the patterns."""
    with pytest.raises(exc):
        fn(torch, torch.nn.functional)
    with raises(exc, *patterns):
        fn(tg, tg.nn.functional)


LP = _log_probs(6, 2, 4, 0)
TGT = np.array([[1, 2, 2], [3, 1, 0]])


@pytest.mark.parametrize("bad, exc, patterns", [
    (dict(il=[7, 5]), RuntimeError, ("ctc_loss", "input_lengths", r"\[0, 6\]", "7")),
    (dict(il=[-1, 5]), RuntimeError, ("ctc_loss", "input_lengths")),
    (dict(tl=[4, 2]), RuntimeError, ("ctc_loss", "targets", r"\(2, 3\)")),
    (dict(tl=[-1, 2]), RuntimeError, ("ctc_loss", "target_lengths", "at least 0")),
    (dict(il=[6, 5, 3]), RuntimeError, ("ctc_loss", "input_lengths", "batch_size")),
    (dict(tl=[3, 2, 1]), RuntimeError, ("ctc_loss", "target_lengths", "batch_size")),
    (dict(blank=4), RuntimeError, ("ctc_loss", "blank", "label range")),
    (dict(blank=-1), RuntimeError, ("ctc_loss", "blank")),
    (dict(reduction="avg"), ValueError, ("avg is not a valid value for reduction",)),
    (dict(tgt=TGT.ravel()[:4]), RuntimeError, ("ctc_loss", "sum\\(target_lengths\\) = 5", "4")),
    (dict(tgt=TGT[:1]), RuntimeError, ("ctc_loss", "targets", "batch_size=2")),
    (dict(tgt=TGT[None]), RuntimeError, ("ctc_loss", "targets", "dimensions")),
    (dict(lp=LP[0]), RuntimeError, ("ctc_loss", "input_lengths")),  # (T, C) taken as one sample: 2 lengths given
    (dict(lp=LP[None]), RuntimeError, ("ctc_loss", "3 dimensions")),
    (dict(lp=LP[:, :0], il=[], tl=[], tgt=TGT[:0]), RuntimeError, ("ctc_loss", "must not be empty")),
    (dict(lengths="float"), RuntimeError, ("ctc_loss", "input_lengths must be integral")),
    (dict(lengths="mixed"), TypeError, ("ctc_loss", "both be Tensors")),
    (dict(lengths="int"), TypeError, ("ctc_loss", "input_lengths", "int")),
    (dict(dtype="half"), NotImplementedError, ("ctc_loss", "float16")),
])
def test_errors_as_torch(bad, exc, patterns):
    def call(lib_, Fn):
        lp, tgt = lib_.tensor(bad.get("lp", LP)), lib_.tensor(bad.get("tgt", TGT))
        if bad.get("dtype") == "half":
            lp = lp.half()
        il, tl = bad.get("il", [6, 5]), bad.get("tl", [3, 2])
        form = bad.get("lengths")
        if form == "float":
            il, tl = lib_.tensor(il, dtype=lib_.float32), lib_.tensor(tl)
        elif form == "mixed":
            il = lib_.tensor(il)
        elif form == "int":
            il, tl = 6, 3
        return Fn.ctc_loss(lp, tgt, il, tl, blank=bad.get("blank", 0), reduction=bad.get("reduction", "mean"))
    _both_raise(call, exc, *patterns)


def test_label_out_of_range_refused():
    """torch's CPU kernel reads past the class axis for a label >= C and returns a number; tensorgrad refuses."""
    with raises(RuntimeError, "ctc_loss", r"target labels must be in \[0, 4\)", r"\[5, 7\]"):
        tg.nn.functional.ctc_loss(tg.tensor(LP), tg.tensor([[1, 5, 2], [7, 1, 0]]), [6, 5], [3, 2])
    # padding past a target's length is never read, whatever its value (as torch)
    check_op(_ctc(reduction="none"), inputs=[LP, np.array([[1, 2, -1], [3, -100, 99]]), np.array([6, 5]),
                                             np.array([2, 1])])


def test_masked_classes_give_torch_nan_gradient():
    """A class masked to -inf before log_softmax: the loss is finite and torch's gradient is NaN at the -inf entries
    of live frames (its exp(-inf + inf)); the same here, and log_softmax then spreads it as in torch."""
    x = np.random.default_rng(2).standard_normal((5, 2, 5))
    x[:, :, 4] = -np.inf
    x[1, 0, 2] = -np.inf
    lp = torch.tensor(x).log_softmax(-1).numpy()
    check_op(_ctc(reduction="sum"), inputs=[lp, np.array([[1, 2], [3, 3]]), np.array([5, 4]), np.array([2, 2])])


# ------------------------------------------------------------------------------ compiled kernel == reference
# csrc/cpu/ctc.cpp against backend/reference_ctc.py (the NumPy recursion it replaced). Both compute in float64; the
# kernel's logsumexp of three is hi + log(1 + e^(lo-hi) + e^(mid-hi)) with its own vectorized exp and log, the
# reference's two nested np.logaddexp, so they differ by a few ulp per frame: float64 results to ~1e-12, float32
# ones (rounded once from float64 in both) to a couple of ulp.
def _kernel_problem(seed, T, N, C, S, dtype, masked=False, short=False):
    """Extended labels (N, 2S+1) built as ops/ctc.py builds them, random lengths including 0 and T, a random blank,
    repeated labels; short: some input lengths below what their target needs (impossible alignments)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, C)) * 2
    lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
    if masked:
        lp[rng.random(lp.shape) < 0.1] = -np.inf
    blank = int(rng.integers(0, C))
    tl = rng.integers(0, S + 1, N)
    tl[0] = 0
    tl[-1] = S
    il = rng.integers(0 if short else min(T, 2 * S + 1), T + 1, N)
    il[-1] = T
    if short:
        il[0] = 0  # no frames and no labels: -0.0
        if N >= 3 and S > 0:
            tl[1], il[1] = S, S - 1  # one frame fewer than the target's labels: impossible
    picked = np.where(np.arange(S)[None] < tl[:, None], rng.integers(0, C, (N, S)), blank)
    if S >= 2:
        picked[-1, 1] = picked[-1, 0]
    labels = np.full((N, 2 * S + 1), blank, dtype=np.int64)
    labels[:, 1::2] = picked
    return lp, labels, il.astype(np.int64), tl.astype(np.int64), rng.standard_normal(N)


_KERNEL_SHAPES = [  # (T, N, C, S): T = 1, empty targets only, a batch of one, and two past the kernel's threading
    (1, 3, 4, 2), (1, 2, 3, 0), (5, 1, 2, 0), (7, 4, 5, 3), (13, 5, 6, 5), (30, 3, 9, 12),
    (120, 8, 12, 20), (200, 6, 30, 40)]


@pytest.fixture
def kernel_threads():
    """Sets tensorgrad._C's OpenMP thread count for one test and restores it."""
    from tensorgrad.backend import cpu
    prev = cpu._C.num_threads()
    yield cpu._C.set_num_threads
    cpu._C.set_num_threads(prev)


def _assert_same_nan(a, b):
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isinf(a) & (a > 0), np.isinf(b) & (b > 0))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", _KERNEL_SHAPES)
@pytest.mark.parametrize("variant", ["plain", "masked", "short"])
def test_kernel_matches_reference(dtype, shape, variant, kernel_threads):
    from tensorgrad.backend import cpu, reference
    lp, labels, il, tl, g = _kernel_problem(sum(shape) + len(variant), *shape, dtype, masked=variant == "masked",
                                            short=variant == "short")
    args = (lp, labels, il, tl)
    nll_r, alpha_r = reference.ctc_loss_forward(*args)
    runs = []
    for threads in (1, 2):
        kernel_threads(threads)
        nll_k, alpha_k = cpu.ctc_loss_forward(*args)
        grads = [cpu.ctc_loss_backward(g, lp, alpha_k, nll_k, labels, il, tl, zi) for zi in (False, True)]
        runs.append((nll_k, alpha_k, grads))
    for a, b in zip(runs[0][:2] + tuple(runs[0][2]), runs[1][:2] + tuple(runs[1][2])):
        np.testing.assert_array_equal(a, b)  # one sample per thread: the thread count changes no bit
    nll_k, alpha_k, grads = runs[0]
    assert nll_k.dtype == alpha_k.dtype == np.float64 and alpha_k.shape == alpha_r.shape
    _assert_same_nan(nll_k, nll_r)
    np.testing.assert_array_equal(np.signbit(nll_k), np.signbit(nll_r))  # -0.0 for no frames and no labels
    np.testing.assert_allclose(nll_k, nll_r, rtol=1e-12, atol=0)
    if dtype == np.float32:  # the loss the op returns: float64 rounded to float32
        finite = np.isfinite(nll_r)
        np.testing.assert_array_max_ulp(nll_k[finite].astype(dtype), nll_r[finite].astype(dtype), maxulp=2)
    tol = dict(rtol=2 ** -22, atol=1e-12) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for zi, got in zip((False, True), grads):
        want = reference.ctc_loss_backward(g, lp, alpha_r, nll_r, labels, il, tl, zi)
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        _assert_same_nan(got, want)
        np.testing.assert_allclose(got, want, **tol)
        # alpha is a contract between the two: either backward reads the other's forward
        np.testing.assert_allclose(reference.ctc_loss_backward(g, lp, alpha_k, nll_k, labels, il, tl, zi), want,
                                   **tol)
    if variant == "short" and shape[1] >= 3 and shape[3] > 0:
        assert np.isinf(nll_r[1]) and np.isnan(grads[0][:, 1]).any() and (grads[1][:, 1] == 0).all()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_op_kernel_and_reference_paths_agree(dtype, reduction, monkeypatch):
    """F.ctc_loss reaches the compiled kernel by default and the reference under TENSORGRAD_KERNELS=reference, with
    the same loss and gradient (also for an impossible sample under zero_infinity, and concatenated targets)."""
    from tensorgrad.backend import kernels
    lp, labels, il, tl, _ = _kernel_problem(11, 40, 5, 7, 8, dtype, short=True)
    targets = np.concatenate([labels[i, 1:2 * tl[i]:2] for i in range(len(tl))])
    out = {}
    for mode in ("auto", "reference"):
        monkeypatch.setenv("TENSORGRAD_KERNELS", mode)
        assert kernels.which("ctc_loss_forward") == ("kernel" if mode == "auto" else "reference")
        x = tg.tensor(lp, requires_grad=True)
        loss = F(x).ctc_loss(x, tg.tensor(targets), tg.tensor(il), tg.tensor(tl), blank=int(labels[0, 0]),
                             reduction=reduction, zero_infinity=True)
        loss.sum().backward()
        out[mode] = (loss.detach().numpy(), x.grad.numpy())
    for a, b in zip(out["auto"], out["reference"]):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=1e-12 if dtype == np.float64 else 2 ** -22, atol=1e-12)


def test_kernel_refuses_bad_arguments():
    """The compiled kernels index by labels and lengths: out-of-range values raise, naming the kernel."""
    from tensorgrad.backend import cpu
    lp, labels, il, tl, _ = _kernel_problem(0, 6, 2, 4, 2, np.float64)
    with raises(ValueError, "ctc_loss_forward", r"labels must be in \[0, 4\)", "9"):
        cpu.ctc_loss_forward(lp, np.where(labels == labels[0, 1], 9, labels), il, tl)
    with raises(ValueError, "ctc_loss_forward", "input_lengths", r"\[0, 6\]", "7"):
        cpu.ctc_loss_forward(lp, labels, np.array([7, 6]), tl)
    with raises(ValueError, "ctc_loss_forward", "target_lengths", "3"):
        cpu.ctc_loss_forward(lp, labels, il, np.array([3, 1]))
    with raises(ValueError, "ctc_loss_forward", "labels", r"\(2, 4\)"):
        cpu.ctc_loss_forward(lp, labels[:, :4], il, tl)
    nll, alpha = cpu.ctc_loss_forward(lp, labels, il, tl)
    with raises(ValueError, "ctc_loss_backward", "alpha", r"\(6, 2, 5\)"):
        cpu.ctc_loss_backward(np.ones(2), lp, alpha[:5], nll, labels, il, tl, False)
    with raises(TypeError, "ctc_loss_forward", "log_probs", "float32 or float64"):
        cpu._C.ctc_loss_forward(lp.astype(np.float16), labels, il, tl)
