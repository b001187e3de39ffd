"""nn.functional vs torch.nn.functional: activations, normalize / rms_norm / cosine_similarity / pairwise_distance,
regression and divergence losses, nll_loss / cross_entropy with class weights and class-probability targets.
Forward and gradients through helpers.check_op (float64 and float32, random shapes, broadcasting, edge values at
every kink and far out), and bad input raising errors that name the function."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import Arg, check_op, gradcheck_op, F, pos, unif, ints, FLOATS

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
# Empty batches and all-ignored targets reduce to 0/0 = nan, as in PyTorch; NumPy warns about that division.
NAN_OK = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def T(x, arr):
    """``arr`` as a tensor of x's library."""
    return torch.tensor(arr) if isinstance(x, torch.Tensor) else tg.tensor(arr)


def Arg_away(shape):
    """Normal floats kept 0.1 away from every kink of the functions here (finite differences straddle none)."""
    return Arg(shape, away=[-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 5.0, 6.0])


def torch_quiet(fn):
    """fn with PyTorch's deprecation / 'mean' warnings silenced (tensorgrad's side is unaffected)."""
    def f(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    return f


# ------------------------------------------------------------------------------------------------ activations
ACTS = {
    "relu": lambda x: F(x).relu(x),
    "silu": lambda x: F(x).silu(x),
    "leaky_relu": lambda x: F(x).leaky_relu(x),
    "leaky_relu-0.2": lambda x: F(x).leaky_relu(x, 0.2),
    "leaky_relu-negative-slope": lambda x: F(x).leaky_relu(x, negative_slope=-0.5),
    "elu": lambda x: F(x).elu(x),
    "elu-alpha": lambda x: F(x).elu(x, alpha=0.5),
    "selu": lambda x: F(x).selu(x),
    "celu": lambda x: F(x).celu(x),
    "celu-alpha": lambda x: F(x).celu(x, alpha=2.0),
    "softplus": lambda x: F(x).softplus(x),
    "softplus-beta-threshold": lambda x: F(x).softplus(x, beta=2.0, threshold=5.0),
    "softplus-beta-half": lambda x: F(x).softplus(x, beta=0.5),
    "logsigmoid": lambda x: F(x).logsigmoid(x),
    "hardtanh": lambda x: F(x).hardtanh(x),
    "hardtanh-range": lambda x: F(x).hardtanh(x, min_val=-3.0, max_val=1.0),
    "relu6": lambda x: F(x).relu6(x),
    "hardsigmoid": lambda x: F(x).hardsigmoid(x),
    "hardswish": lambda x: F(x).hardswish(x),
    "mish": lambda x: F(x).mish(x),
    "softsign": lambda x: F(x).softsign(x),
}
# Every kink and threshold of the functions above, exactly, and values far out (overflow of e^x, saturation).
EDGE = np.array([-1000.0, -100.0, -40.0, -20.5, -6.0, -3.0, -1.0, -0.5, -1e-9, 0.0, 1e-9, 0.5, 1.0, 2.5, 3.0, 5.0, 6.0,
                 10.0, 20.0, 20.5, 40.0, 100.0, 1000.0])


def _tol(name, dtype):
    # PyTorch's hardsigmoid backward multiplies by float(1/6) even in float64 (a float32 constant): 3e-8 relative.
    return dict(atol=1e-7, rtol=1e-7) if name == "hardsigmoid" and dtype == np.float64 else {}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (), (1,), (0, 3)])
@pytest.mark.parametrize("name", list(ACTS))
def test_activation(name, shape, dtype):
    x = np.asarray(RNG.standard_normal(shape) * 4)  # reaches both saturations of the hard* functions
    check_op(ACTS[name], inputs=[x], dtype=dtype, **_tol(name, dtype))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(ACTS))
def test_activation_edge_values(name, dtype):
    check_op(ACTS[name], inputs=[EDGE], dtype=dtype, **_tol(name, dtype))


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_float16_forward(name):
    check_op(ACTS[name], inputs=[np.asarray(RNG.standard_normal((4, 5)) * 4)], dtype=np.float16, grad=False,
             atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("name", ["softplus", "logsigmoid", "elu", "selu", "celu", "mish"])
def test_activation_relative_accuracy(name):
    """Far in the tails (softplus(-40) = 4e-18) and near 0 (elu(-1e-9)) the results are exact to rounding, not
    just to an absolute tolerance."""
    x = np.array([-40.0, -30.0, -16.0, -1e-6, -1e-9, -1e-12, 1e-12, 30.0, 40.0])
    for dt, tol in ((np.float64, 1e-14), (np.float32, 1e-6)):
        check_op(ACTS[name], inputs=[x], dtype=dt, atol=0, rtol=tol)


@pytest.mark.parametrize("name", ["leaky_relu-0.2", "elu-alpha", "selu", "celu-alpha", "softplus-beta-threshold",
                                  "logsigmoid", "mish", "softsign", "hardswish"])
def test_activation_gradcheck(name):
    gradcheck_op(ACTS[name], [Arg_away((3, 4))])


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid",
                                  "hardswish", "mish", "silu"])
def test_inplace_flag(name):
    x_np = RNG.standard_normal((3, 4)) * 4
    x, tx = tg.tensor(x_np), torch.tensor(x_np)
    y, ty = getattr(tg.nn.functional, name)(x, inplace=True), getattr(torch.nn.functional, name)(tx, inplace=True)
    assert y is x and ty is tx
    np.testing.assert_allclose(x.numpy(), tx.numpy(), rtol=1e-12, atol=1e-12)
    # On a tensor that records gradients the result comes back out of place and the input is left alone.
    a = tg.tensor(x_np, requires_grad=True)
    b = getattr(tg.nn.functional, name)(a, inplace=True)
    assert b is not a and np.array_equal(a.detach().numpy(), x_np)
    np.testing.assert_allclose(b.detach().numpy(), tx.numpy(), rtol=1e-12, atol=1e-12)
    b.sum().backward()
    assert a.grad is not None


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu(dim, dtype):
    check_op(lambda x: F(x).glu(x, dim), inputs=[(4, 6, 2)], dtype=dtype)
    check_op(lambda x: F(x).glu(x), inputs=[(8,)], dtype=dtype)
    gradcheck_op(lambda x: F(x).glu(x, dim), [(2, 4, 2)])


# ---------------------------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf"), -float("inf"), 0.0])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_normalize(p, dim, dtype):
    inp = Arg_away((3, 4, 2)) if p == 0.5 else (3, 4, 2)  # |x|^0.5 has an infinite slope at 0
    check_op(lambda x: F(x).normalize(x, p=p, dim=dim), inputs=[inp], dtype=dtype)


def test_normalize_zero_rows_and_eps():
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [1e-13, 0.0, -1e-13]])
    for p in (2.0, 1.0, 3.0, float("inf")):
        check_op(lambda a: F(a).normalize(a, p=p), inputs=[x])  # gradient 1/eps where the norm is clamped, no nan
    check_op(lambda a: F(a).normalize(a, dim=0, eps=0.5), inputs=[x])
    check_op(lambda a: F(a).normalize(a, dim=0), inputs=[np.array([3.0, 4.0])])
    gradcheck_op(lambda a: F(a).normalize(a, dim=-1), [(3, 4)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", [((3, 4), (4,), {}), ((2, 3, 4), (2, 3, 4), {}), ((3, 4), (4,), {"eps": 1e-3}),
                                  ((2, 5, 3), (2, 5, 3), {"normalized_shape": (5, 3)}), ((6,), None, {})],
                         ids=["weight", "3d", "eps", "two-dims", "no-weight-1d"])
def test_rms_norm(case, dtype):
    xs, ws, kw = case
    shape = kw.pop("normalized_shape", xs[-1:])
    if ws is None:
        check_op(lambda x: F(x).rms_norm(x, list(shape), **kw), inputs=[xs], dtype=dtype)
    else:
        ws = shape
        check_op(lambda x, w: F(x).rms_norm(x, shape, w, **kw), inputs=[xs, ws], dtype=dtype)
    check_op(lambda x: F(x).rms_norm(x, tuple(shape)), inputs=[xs], dtype=dtype)


def test_rms_norm_float16_and_gradcheck():
    check_op(lambda x, w: F(x).rms_norm(x, (8,), w), inputs=[(4, 8), (8,)], dtype=np.float16, grad=False,
             atol=2e-3, rtol=2e-3)
    gradcheck_op(lambda x, w: F(x).rms_norm(x, (3,), w), [(2, 3), (3,)])
    check_op(lambda x: F(x).rms_norm(x, (3,)), inputs=[np.zeros((2, 3))])  # all-zero rows: eps keeps it finite


COS_CASES = {
    "2d": ((3, 4), (3, 4), {}),
    "broadcast": ((3, 4), (4,), {"dim": -1}),
    "broadcast-both": ((2, 1, 5), (3, 5), {"dim": -1}),
    "dim0": ((4, 3), (4, 3), {"dim": 0}),
    "1d": ((5,), (5,), {"dim": 0}),
    "eps": ((3, 4), (3, 4), {"eps": 0.5}),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(COS_CASES))
def test_cosine_similarity(case, dtype):
    a, b, kw = COS_CASES[case]
    check_op(lambda x, y: F(x).cosine_similarity(x, y, **kw), inputs=[a, b], dtype=dtype)


def test_cosine_similarity_clamped_norms_and_zero_vectors():
    """Norms below eps are clamped in value only (PyTorch clamps under no_grad): the gradient still sees them."""
    x = np.array([[0.1, 0.2], [3.0, 4.0], [0.0, 0.0]])
    y = np.array([[0.3, 0.1], [0.1, 0.05], [1.0, 2.0]])
    check_op(lambda a, b: F(a).cosine_similarity(a, b, eps=1.0), inputs=[x, y])
    check_op(lambda a, b: F(a).cosine_similarity(a, b), inputs=[x, y])
    check_op(lambda a, b: F(a).cosine_similarity(a, b.double()), inputs=[(3, 4), (3, 4)], dtype=np.float32)
    gradcheck_op(lambda a, b: F(a).cosine_similarity(a, b, dim=-1), [(2, 3), (3,)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf"), -float("inf"), 0.0])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((5,), (5,)), ((2, 3, 4), (3, 4))])
def test_pairwise_distance(shapes, p, dtype):
    grad = p != 0  # the count of non-zeros: PyTorch's result joins the graph with a zero gradient, ours does not
    check_op(lambda x, y: F(x).pairwise_distance(x, y, p=p), inputs=list(shapes), dtype=dtype, grad=grad)
    check_op(lambda x, y: F(x).pairwise_distance(x, y, p=p, eps=1e-3, keepdim=True), inputs=list(shapes), dtype=dtype,
             grad=grad)


def test_pairwise_distance_identical_inputs():
    x = RNG.standard_normal((3, 4))
    check_op(lambda a, b: F(a).pairwise_distance(a, b, eps=0.0), inputs=[x, x.copy()])  # zero norm: gradient 0
    gradcheck_op(lambda a, b: F(a).pairwise_distance(a, b), [(3, 4), (3, 4)])


# ----------------------------------------------------------------------------------------------------- losses
REDUCTIONS = ["mean", "sum", "none"]
REG_LOSSES = {
    "l1_loss": lambda x, y, r: F(x).l1_loss(x, y, reduction=r),
    "smooth_l1_loss": lambda x, y, r: F(x).smooth_l1_loss(x, y, reduction=r),
    "smooth_l1_loss-beta0.5": lambda x, y, r: F(x).smooth_l1_loss(x, y, reduction=r, beta=0.5),
    "smooth_l1_loss-beta2": lambda x, y, r: F(x).smooth_l1_loss(x, y, reduction=r, beta=2.0),
    "smooth_l1_loss-beta0": lambda x, y, r: F(x).smooth_l1_loss(x, y, reduction=r, beta=0.0),
    "huber_loss": lambda x, y, r: F(x).huber_loss(x, y, reduction=r),
    "huber_loss-delta0.3": lambda x, y, r: F(x).huber_loss(x, y, reduction=r, delta=0.3),
    "huber_loss-delta2.5": lambda x, y, r: F(x).huber_loss(x, y, reduction=r, delta=2.5),
}


@NAN_OK
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(3, 4), (), (7,), (2, 0)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REG_LOSSES))
def test_regression_loss(name, reduction, shape, dtype):
    f = REG_LOSSES[name]
    x, y = np.asarray(RNG.standard_normal(shape) * 2), np.asarray(RNG.standard_normal(shape) * 2)
    check_op(lambda a, b: f(a, b, reduction), inputs=[x, y], dtype=dtype)


@pytest.mark.parametrize("name", list(REG_LOSSES))
def test_regression_loss_at_the_kinks(name):
    """|d| exactly 0, beta / delta and on both sides of them: the gradient takes PyTorch's branch."""
    d = np.array([0.0, 0.3, -0.3, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 2.5, -2.5, 3.0])
    y = RNG.standard_normal(d.shape).round(2)
    check_op(lambda a, b: REG_LOSSES[name](a, b, "none"), inputs=[y + d, y], requires_grad=[True, False])
    gradcheck_op(lambda a, b: REG_LOSSES[name](a, b, "sum"), [Arg_away((3, 4)), np.zeros((3, 4))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
def test_elementwise_weight(name, reduction):
    """PyTorch's new weight argument: 'mean' is sum(w l) / sum(w) for l1/mse, mean(w l) for huber."""
    f = lambda x, y, w: getattr(F(x), name)(x, y, reduction=reduction, weight=w)  # noqa: E731
    check_op(f, inputs=[(3, 4), (3, 4), pos(3, 4)])
    check_op(f, inputs=[(5,), (5,), pos(5)], dtype=np.float32)


@pytest.mark.parametrize("legacy", [{"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True},
                                    {"size_average": False, "reduce": True}])
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss", "kl_div"])
def test_legacy_size_average_reduce(name, legacy):
    check_op(torch_quiet(lambda x, y: getattr(F(x), name)(x, y, **legacy)), inputs=[(3, 4), pos(3, 4)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(reduction, log_target, dtype):
    def f(x, y):
        t = F(y).log_softmax(y, -1) if log_target else F(y).softmax(y, -1)
        return F(x).kl_div(F(x).log_softmax(x, -1), t, reduction=reduction, log_target=log_target)
    check_op(torch_quiet(f), inputs=[(3, 5), (3, 5)], dtype=dtype)
    check_op(torch_quiet(lambda x, y: F(x).kl_div(x, y, reduction=reduction, log_target=log_target)),
             inputs=[(2, 3, 4), unif(2, 3, 4, low=0.1, high=1.0)], dtype=dtype)


def test_kl_div_zero_targets_broadcast_and_0d():
    t = np.array([[0.0, 0.5, 0.5], [0.2, 0.0, 0.8]])
    check_op(torch_quiet(lambda x, y: F(x).kl_div(x, y, reduction="none")), inputs=[(2, 3), t],
             requires_grad=[True, False])  # 0 * log 0 = 0, not nan
    check_op(torch_quiet(lambda x, y: F(x).kl_div(x, y, reduction="batchmean")), inputs=[(4, 3), pos(3)])
    check_op(torch_quiet(lambda x, y: F(x).kl_div(x, y, reduction="batchmean")), inputs=[(), pos()])
    gradcheck_op(lambda x, y: F(x).kl_div(x, y, reduction="batchmean"), [(3, 4), pos(3, 4)])
    gradcheck_op(lambda x, y: F(x).kl_div(x, y, reduction="sum", log_target=True), [(3, 4), (3, 4)])


# --------------------------------------------------------------------------------- nll_loss, cross_entropy
NLL_CASES = {
    "2d": ((6, 5), np.array([0, 4, 2, -100, 1, 3])),
    "NCd": ((3, 4, 2), np.array([[0, 3], [-100, 1], [2, 2]])),
    "NCdd": ((2, 3, 2, 2), np.array([[[0, 1], [2, -100]], [[1, 1], [0, 2]]])),
    "C": ((5,), np.array(3)),
    "all-ignored": ((3, 4), np.array([-100, -100, -100])),
    "empty": ((0, 4), np.zeros(0, dtype=np.int64)),
}


@NAN_OK
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", list(NLL_CASES))
def test_nll_loss(case, reduction, weighted, dtype):
    xs, t = NLL_CASES[case]
    c = xs[0] if len(xs) == 1 else xs[1]
    if weighted:
        check_op(lambda x, t, w: F(x).nll_loss(x, t, w, reduction=reduction), inputs=[xs, t, pos(c)], dtype=dtype,
                 requires_grad=[True, False, False])
    else:
        check_op(lambda x, t: F(x).nll_loss(x, t, reduction=reduction), inputs=[xs, t], dtype=dtype)
    check_op(lambda x, t: F(x).nll_loss(x, t, reduction=reduction, ignore_index=1),
             inputs=[xs, np.asarray(np.abs(t) % c)], dtype=dtype)


@NAN_OK
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ls", [0.0, 0.15])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ["2d", "NCd", "NCdd", "C", "all-ignored"])
def test_cross_entropy_class_weights(case, reduction, ls, dtype):
    xs, t = NLL_CASES[case]
    c = xs[0] if len(xs) == 1 else xs[1]
    check_op(lambda x, t, w: F(x).cross_entropy(x, t, w, reduction=reduction, label_smoothing=ls),
             inputs=[xs, t, pos(c)], dtype=dtype, requires_grad=[True, False, False])
    check_op(lambda x, t, w: F(x).cross_entropy(x, t, weight=w, ignore_index=0, reduction=reduction,
                                                label_smoothing=ls),
             inputs=[xs, np.asarray(np.abs(t) % c), pos(c)], dtype=dtype, requires_grad=[True, False, False])


@NAN_OK
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 2), (2, 3, 2, 2), (6,), (0, 3)])
def test_cross_entropy_probability_targets(shape, reduction, ls, weighted, dtype):
    """A float target of the input's shape holds class probabilities; the gradient reaches the target too."""
    c = shape[0] if len(shape) == 1 else shape[1]
    cdim = 0 if len(shape) == 1 else 1
    kw = dict(reduction=reduction, label_smoothing=ls)
    if weighted:
        check_op(lambda x, y, w: F(x).cross_entropy(x, F(y).softmax(y, cdim), w, **kw),
                 inputs=[shape, shape, pos(c)], dtype=dtype, requires_grad=[True, True, False])
    else:
        check_op(lambda x, y: F(x).cross_entropy(x, F(y).softmax(y, cdim), **kw), inputs=[shape, shape], dtype=dtype)


def test_cross_entropy_probability_targets_gradcheck_and_module():
    gradcheck_op(lambda x, y: F(x).cross_entropy(x, y, label_smoothing=0.1), [(3, 4), unif(3, 4, low=0, high=1)])
    check_op(lambda x, y: torch.nn.CrossEntropyLoss()(x, y) if isinstance(x, torch.Tensor) else
             tg.nn.CrossEntropyLoss()(x, y), inputs=[(3, 4), unif(3, 4, low=0, high=1)])


def test_cross_entropy_gradcheck_weighted():
    gradcheck_op(lambda x, t, w: F(x).cross_entropy(x, t, w, label_smoothing=0.2),
                 [(4, 3), np.array([0, 2, -100, 1]), pos(3)])
    gradcheck_op(lambda x, t, w: F(x).nll_loss(x, t, w, reduction="mean"), [(2, 3, 2), ints(2, 2, high=3), pos(3)])


def test_unweighted_index_targets_still_take_the_fused_kernel():
    x = tg.randn(4, 3, requires_grad=True)
    loss = tg.nn.functional.cross_entropy(x, tg.tensor([0, 1, 2, 0]))
    assert type(loss.grad_fn).__name__ == "SoftmaxCrossEntropy"


# ------------------------------------------------------------------------------------------------ bad input
def t(*shape, dtype=None):
    return tg.ones(*shape, dtype=dtype)


_F = tg.nn.functional
BAD = [
    ("act-int", lambda: _F.elu(t(3, dtype=tg.int64)), TypeError, r"elu.*floating point.*int64"),
    ("act-int-softplus", lambda: _F.softplus(t(2, dtype=tg.int64)), TypeError, r"softplus.*int64"),
    ("act-not-tensor", lambda: _F.mish([1.0]), TypeError, r"mish.*Tensor"),
    ("hardtanh-range", lambda: _F.hardtanh(t(3), 1.0, -1.0), ValueError, r"hardtanh.*min_val"),
    ("celu-alpha", lambda: _F.celu(t(3), alpha=0.0), ValueError, r"celu.*alpha"),
    ("glu-odd", lambda: _F.glu(t(3, 5)), RuntimeError, r"glu.*even.*size 5.*\(3, 5\)"),
    ("glu-0d", lambda: _F.glu(tg.tensor(1.0)), RuntimeError, r"glu.*0-d"),
    ("glu-dim", lambda: _F.glu(t(3, 4), 2), IndexError, r"glu.*dim 2"),
    ("normalize-dim", lambda: _F.normalize(t(4)), IndexError, r"normalize.*dim 1.*\(4,\)"),
    ("normalize-p", lambda: _F.normalize(t(2, 3), p=-1.0), ValueError, r"normalize.*p.*-1\.0.*\(2, 3\)"),
    ("rms_norm-shape", lambda: _F.rms_norm(t(2, 3), [4]), RuntimeError, r"rms_norm.*\[4\].*\(2, 3\)"),
    ("rms_norm-weight", lambda: _F.rms_norm(t(2, 3), [3], t(2)), RuntimeError, r"rms_norm.*weight.*\(2,\)"),
    ("cos-int", lambda: _F.cosine_similarity(t(2, 3, dtype=tg.int64), t(2, 3, dtype=tg.int64)), TypeError,
     r"cosine_similarity.*floating point.*int64"),
    ("cos-broadcast", lambda: _F.cosine_similarity(t(2, 3), t(4, 3)), RuntimeError,
     r"cosine_similarity.*\(2, 3\).*\(4, 3\)"),
    ("cos-dim", lambda: _F.cosine_similarity(t(2, 3), t(2, 3), dim=2), IndexError, r"cosine_similarity.*dim 2"),
    ("pairwise-broadcast", lambda: _F.pairwise_distance(t(2, 3), t(2, 4)), RuntimeError, r"pairwise_distance"),
    ("kl-broadcast", lambda: _F.kl_div(t(2, 3), t(4)), RuntimeError, r"kl_div.*\(2, 3\).*\(4,\)"),
    ("kl-reduction", lambda: _F.kl_div(t(2, 3), t(2, 3), reduction="avg"), ValueError, r"kl_div.*'batchmean'.*'avg'"),
    ("smooth-beta", lambda: _F.smooth_l1_loss(t(3), t(3), beta=-1.0), ValueError, r"smooth_l1_loss.*beta"),
    ("huber-delta", lambda: _F.huber_loss(t(3), t(3), delta=0.0), ValueError, r"huber_loss.*delta"),
    ("l1-weight", lambda: _F.l1_loss(t(3), t(3), weight=t(2)), ValueError, r"l1_loss.*weight.*\(2,\).*\(3,\)"),
    ("huber-weight", lambda: _F.huber_loss(t(3), t(3), weight=t(4)), ValueError, r"huber_loss.*weight"),
    ("mse-weight", lambda: _F.mse_loss(t(3), t(3), weight=t(4)), ValueError, r"mse_loss.*weight"),
    ("nll-float-target", lambda: _F.nll_loss(t(3, 4), t(3)), TypeError, r"nll_loss.*integer.*float32"),
    ("nll-range", lambda: _F.nll_loss(t(3, 4), tg.tensor([0, 4, 1])), IndexError, r"nll_loss.*\[0, 3\].*got 4"),
    ("nll-negative", lambda: _F.nll_loss(t(3, 4), tg.tensor([0, -2, 1])), IndexError, r"nll_loss.*-2"),
    ("nll-shape", lambda: _F.nll_loss(t(3, 4), tg.tensor([0, 1])), RuntimeError, r"nll_loss.*\(3, 4\).*\(2,\)"),
    ("nll-weight", lambda: _F.nll_loss(t(3, 4), tg.tensor([0, 1, 2]), t(3)), RuntimeError, r"nll_loss.*weight.*\(4,\)"),
    ("nll-reduction", lambda: _F.nll_loss(t(3, 4), tg.tensor([0, 1, 2]), reduction="max"), ValueError,
     r"nll_loss.*'max'"),
    ("ce-prob-int", lambda: _F.cross_entropy(t(3, 4), tg.zeros(3, 4, dtype=tg.int64)), TypeError,
     r"cross_entropy.*probabilities.*floating point.*int64"),
    ("ce-prob-ignore", lambda: _F.cross_entropy(t(3, 4), t(3, 4), ignore_index=1), ValueError,
     r"cross_entropy.*ignore_index"),
    ("ce-prob-weight", lambda: _F.cross_entropy(t(3, 4), t(3, 4), t(3)), RuntimeError, r"cross_entropy.*weight"),
    ("ce-smoothing", lambda: _F.cross_entropy(t(3, 4), t(3, 4), label_smoothing=1.5), ValueError,
     r"cross_entropy.*label_smoothing"),
    ("ce-weighted-range", lambda: _F.cross_entropy(t(3, 4), tg.tensor([0, 9, 1]), t(4)), IndexError,
     r"cross_entropy.*got 9"),
    ("ce-float-target-shape", lambda: _F.cross_entropy(t(3, 4), t(3)), TypeError, r"cross_entropy.*integer"),
]
for _name in ("l1_loss", "smooth_l1_loss", "huber_loss", "mse_loss"):
    BAD.append((f"{_name}-reduction", lambda n=_name: getattr(_F, n)(t(3), t(3), reduction="avg"), ValueError,
                rf"{_name}.*'avg'"))
    BAD.append((f"{_name}-shape", lambda n=_name: getattr(_F, n)(t(3, 4), t(4, 3)), RuntimeError,
                rf"{_name}.*\(3, 4\).*\(4, 3\)"))


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_input(case):
    _, thunk, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        thunk()
