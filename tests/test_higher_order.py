"""Higher-order gradients: gradgradcheck of every op's double backward (float64), second-order results against
torch, autograd.functional / tensorgrad.func, and the uses that need them (gradient penalty, MAML, HVP through the
GPT, third derivatives)."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.autograd import functional as AF
from tensorgrad.ops.graph import linear_map, vjp_by_recompute
from helpers import check_op, gradcheck_op, gradgradcheck_op, double_backward_raises

F = tg.nn.functional
rng = np.random.default_rng(0)


def T(*shape, pos=False, grad=True):
    a = rng.standard_normal(shape)
    if pos:
        a = np.abs(a) + 0.5
    return tg.tensor(a, requires_grad=grad)


def I(*vals):
    return tg.tensor(np.array(vals, dtype=np.int64))


CASES = {
    "add_sub_mul_neg": (lambda a, b: -(a + b) * (a - b) * a, lambda: [T(3, 4), T(4)]),
    "div": (lambda a, b: a / b, lambda: [T(3), T(3, pos=True)]),
    "pow": (lambda a, b: a ** b + a ** 3, lambda: [T(3, pos=True), T(3)]),
    "max_min": (lambda a, b: tg.maximum(a, b) * tg.minimum(a, b) * a, lambda: [T(3, 4), T(4)]),
    "exp_log_tanh_sigmoid": (lambda a: (a.exp() + a.abs().log()).tanh().sigmoid(), lambda: [T(3, 4)]),
    "sqrt_rsqrt": (lambda a: a.sqrt() * a.rsqrt() * a.sqrt(), lambda: [T(3, pos=True)]),
    "relu_clamp": (lambda a: a.relu() * a + a.clamp(-0.5, 0.5) * a, lambda: [T(3, 4)]),
    "where": (lambda a, b: tg.where(a > 0, a * a, b * b), lambda: [T(3), T(3)]),
    "elementwise_math": (lambda a: a.sin() * a.cos() + a.erf() * a + tg.log1p(a * a) + tg.expm1(a) * a
                         + tg.log2(a * a + 1) * a + tg.log10(a * a + 1) * a + tg.reciprocal(a * a + 1),
                         lambda: [T(3)]),
    "piecewise_constant": (lambda a: (tg.sign(a) + tg.floor(a) + tg.ceil(a) + tg.trunc(a) + tg.round(a)) * a * a,
                           lambda: [T(3)]),
    "lerp": (lambda a, b, w: tg.lerp(a, b, w) * a, lambda: [T(3), T(3), T(3)]),
    "sum_mean": (lambda a: (a * a).sum(1) + (a * a).mean(0, keepdim=True).sum(), lambda: [T(3, 4)]),
    "var_std": (lambda a: (a.var(1) * a.sum(1)).sum() + (a.std(0) * a.sum(0)).sum(), lambda: [T(3, 4)]),
    "clamp_tensor_remainder": (lambda a, lo: tg.clamp(a, lo, lo + 1) * a + (a % 0.7) * a, lambda: [T(3, 4), T(4)]),
    "amax_max_dim_median": (lambda a: a.amax(1) * a.sum(1) + a.max(1)[0] * a.mean(1) + a.median() * a.sum(),
                            lambda: [T(3, 4)]),
    "cumsum": (lambda a: a.cumsum(1) * a, lambda: [T(3, 4)]),
    "prod_cumprod_logcumsumexp": (lambda a: (a.prod(1) * a.sum(1)).sum() + a.prod() * a + a.cumprod(1) * a
                                  + a.logcumsumexp(1) * a, lambda: [T(3, 4)]),
    # with zeros: cumprod's derivative past the first zero is not 0 (torch's per-position form)
    "prod_cumprod_zeros": (lambda a: (a.prod(1) * a.sum(1)).sum() + a.prod(0).sum() * a + a.cumprod(1) * a,
                           lambda: [tg.tensor(np.where(np.arange(12).reshape(3, 4) % 5 == 1, 0.0,
                                                       rng.standard_normal((3, 4))), requires_grad=True)]),
    "binary_cross_entropy": (lambda a, t: F.binary_cross_entropy(a.sigmoid(), t.sigmoid(), reduction="sum")
                             + F.binary_cross_entropy(a.sigmoid(), t.sigmoid()) * a.sum(),
                             lambda: [T(3, 4), T(3, 4)]),
    "vector_norm": (lambda a: tg.linalg.vector_norm(a) * a + tg.linalg.vector_norm(a, 1) * a
                    + tg.linalg.vector_norm(a, float("inf")) * a + tg.linalg.vector_norm(a, 3) * a
                    + tg.linalg.vector_norm(a, 0) * a, lambda: [T(3, 4)]),
    "movement": (lambda a: a.permute(1, 0).reshape(-1).expand(2, 12).contiguous().flip(0).roll(1, 1) ** 2,
                 lambda: [T(3, 4)]),
    "getitem_cat_tril": (lambda a, b: tg.cat([a[[0, 0, 2]], b[1:]], 0).tril() ** 2 + a[1] * a[2], lambda: [T(3, 4), T(2, 4)]),
    "masked_fill": (lambda a: a.masked_fill(I(1, 0, 1, 0).bool(), 0.5) ** 2, lambda: [T(3, 4)]),
    "gather_scatter": (lambda a, s: (a.gather(1, I(0, 2, 2).reshape(3, 1)) ** 2).sum() * a
                       + a.scatter(1, I(1, 0, 3).reshape(3, 1), s) ** 2
                       + a.scatter_add(1, I(1, 1, 3).reshape(3, 1), s) ** 2
                       + a.index_add(1, I(0, 0), s.reshape(3, 1).expand(3, 2)) ** 2, lambda: [T(3, 4), T(3, 1)]),
    "diagonal_diag_embed_pad": (lambda a: a.diagonal() ** 2 * tg.diag_embed(a).sum() + F.pad(a, (1, 2)).sum() * a,
                                lambda: [T(3, 3)]),
    "matmul": (lambda a, b, v: (a @ b) ** 2 + ((a @ v) ** 2).sum() + (v @ v) ** 2, lambda: [T(2, 3, 4), T(4, 4), T(4)]),
    "linear": (lambda x, w, b: F.linear(x, w, b) ** 2, lambda: [T(2, 3, 4), T(5, 4), T(5)]),
    "softmax_log_softmax": (lambda a: F.softmax(a, -1) * a + F.log_softmax(a, 0) ** 2, lambda: [T(3, 4)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, I(1, 0, 3)) + F.cross_entropy(a, I(1, -100, 3), label_smoothing=0.1,
                                                                                reduction="sum"), lambda: [T(3, 4)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b) ** 2, lambda: [T(3, 4), T(4), T(4)]),
    "gelu": (lambda x: F.gelu(x) + F.gelu(x, approximate="tanh"), lambda: [T(3, 4)]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True) ** 2,
                  lambda: [T(1, 2, 3, 4), T(1, 2, 3, 4), T(1, 2, 3, 4)]),
    "packed_attention": (lambda qkv: F.packed_attention(qkv, 2) ** 2, lambda: [T(1, 3, 12)]),
    # with dropout: the kernels' Philox mask, materialized for the double backward (f reseeds before each call)
    "attention_dropout": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, is_causal=True) ** 2,
                          lambda: [T(1, 2, 5, 4), T(1, 2, 5, 4), T(1, 2, 5, 4)]),
    "packed_attention_dropout": (lambda qkv: F.packed_attention(qkv, 2, dropout_p=0.3) ** 2, lambda: [T(2, 4, 12)]),
    "dropout_embedding": (lambda w: F.dropout(F.embedding(I(0, 2, 2, 1).reshape(2, 2), w), 0.5) ** 2,
                          lambda: [T(4, 3)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) ** 2,
                   lambda: [T(4, 2, 3), T(2), T(2)]),
    "conv": (lambda x, w: F.conv2d(x, w, padding=1) ** 2 + F.fold(x.reshape(1, 4, 4), (3, 3), (2, 2)).sum() * x.sum(),
             lambda: [T(1, 1, 4, 4), T(2, 1, 2, 2)]),
    "linear_map_identity": (lambda x: linear_map(x, lambda a: a[::-1].copy(), lambda a: a[::-1].copy()) ** 3
                            + vjp_by_recompute(lambda y: (y ** 3).sum(), [x], tg.tensor(1.0, dtype=tg.float64))[0],
                            lambda: [T(3)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradgradcheck(name):
    fn, make = CASES[name]
    tg.manual_seed(0)
    ins = make()

    def f(*xs):
        tg.manual_seed(0)  # the dropout mask, the same on every call
        return fn(*xs)
    gradgradcheck_op(f, ins)


@pytest.mark.parametrize("packed", [False, True])
def test_attention_dropout_graph_gradient_is_the_kernels(packed):
    # the double backward differentiates the math path with the mask materialized; its first-order gradient must be
    # the kernels' (the same Philox draw), else gradgradcheck would pass on a self-consistent but wrong mask
    x = T(2, 6, 12) if packed else T(1, 2, 6, 4)
    fn = (lambda a: F.packed_attention(a, 2, dropout_p=0.4)) if packed else \
        (lambda a: F.scaled_dot_product_attention(a, a * 0.5, a * 2, dropout_p=0.4, is_causal=True))
    w = tg.tensor(rng.standard_normal(tuple(x.shape[:-1]) + (4,) if not packed else (2, 6, 4)))
    outs = []
    for cg in (False, True):
        tg.manual_seed(3)
        y = fn(x)
        outs.append(tg.autograd.grad((y * w).sum(), x, create_graph=cg)[0].detach().numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-10, atol=1e-12)
    y0 = F.packed_attention(x, 2) if packed else F.scaled_dot_product_attention(x, x * 0.5, x * 2, is_causal=True)
    assert not np.allclose(outs[0], tg.autograd.grad((y0 * w).sum(), x)[0].numpy())  # the mask dropped something


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("wrt", ["x", "weight", "bias"])
def test_layer_norm_backward_node_against_torch(affine, wrt):
    # layer norm's gradient with create_graph is LayerNormBackward (the fused kernel; its own derivative on arrays)
    # plus recorded sums for weight and bias: each gradient's values and second derivatives against torch's, in
    # float64 and float32, normalized over one dim and over two; gradcheck, and gradgradcheck of it (third order)
    if not affine and wrt != "x":
        pytest.skip("no weight or bias")

    def dln(x, w, b, v):
        lib, f = (tg, F) if isinstance(x, tg.Tensor) else (torch, torch.nn.functional)
        shape = tuple(w.shape)
        with lib.enable_grad():
            y = f.layer_norm(x, shape, w if affine else None, b if affine else None, eps=1e-5)
            return lib.autograd.grad((y * v).sum(), {"x": x, "weight": w, "bias": b}[wrt], create_graph=True)[0]
    shapes = [(5, 6), (6,), (6,), (5, 6)]
    check_op(dln, inputs=shapes)
    check_op(dln, inputs=[(2, 3, 4, 5), (4, 5), (4, 5), (2, 3, 4, 5)])
    check_op(dln, inputs=shapes, dtype=np.float32, atol=1e-4, rtol=1e-4)
    gradcheck_op(dln, shapes)
    gradgradcheck_op(dln, [T(4, 5), T(5), T(5), T(4, 5)])


@pytest.mark.parametrize("causal", [True, False])
def test_packed_attention_backward_node_against_torch(causal, kernel_mode):
    # packed attention's gradient with create_graph is PackedAttentionBackward (the fused backward; its own
    # derivative on arrays): second derivatives against torch's attention composed in plain ops, float64 and
    # float32, with the packed kernels and with the reference (the split-heads path); gradcheck, and third order
    import math
    h = 2

    def att(qkv):
        if isinstance(qkv, tg.Tensor):
            return F.packed_attention(qkv, h, is_causal=causal)
        b, t, c3 = qkv.shape
        q, k, v = qkv.reshape(b, t, 3, h, c3 // (3 * h)).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(c3 // (3 * h))
        if causal:
            s = s.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
        return (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(b, t, c3 // 3)

    def datt(qkv, w):
        lib = tg if isinstance(qkv, tg.Tensor) else torch
        with lib.enable_grad():
            return lib.autograd.grad((att(qkv) * w).sum(), qkv, create_graph=True)[0]
    check_op(datt, inputs=[(2, 5, 12), (2, 5, 4)])
    check_op(datt, inputs=[(1, 6, 24), (1, 6, 8)], dtype=np.float32, atol=1e-4, rtol=1e-4)
    gradcheck_op(datt, [(1, 4, 12), (1, 4, 4)])
    gradgradcheck_op(datt, [T(1, 4, 12), T(1, 4, 4)])


@pytest.mark.parametrize("causal,tq", [(True, 5), (False, 5), (False, 3), (True, 7)])
def test_attention_backward_node_against_torch(causal, tq, kernel_mode):
    # scaled_dot_product_attention's gradient with create_graph is AttentionBackward (the fused backward; its own
    # derivative on arrays, shared with the packed form): second derivatives for q, k and v against torch's math
    # path, self- and cross-attention (Tq != Tk, causal top-left as torch), float64 and float32; third order
    def datt(q, k, v, w):
        from torch.nn.attention import SDPBackend, sdpa_kernel
        lib, f = (tg, F) if isinstance(q, tg.Tensor) else (torch, torch.nn.functional)
        with lib.enable_grad(), sdpa_kernel(SDPBackend.MATH):  # (torch's fused CPU attention has no double backward)
            y = f.scaled_dot_product_attention(q, k, v, is_causal=causal)
            return lib.cat(lib.autograd.grad((y * w).sum(), (q, k, v), create_graph=True), -2)
    shapes = [(2, 2, tq, 4), (2, 2, 5, 4), (2, 2, 5, 4), (2, 2, tq, 4)]
    check_op(datt, inputs=shapes)
    check_op(datt, inputs=shapes, dtype=np.float32, atol=1e-4, rtol=1e-4)
    gradcheck_op(datt, [(1, 1, tq, 3), (1, 1, 5, 3), (1, 1, 5, 3), (1, 1, tq, 3)])
    gradgradcheck_op(datt, [T(1, 1, tq, 3), T(1, 1, 5, 3), T(1, 1, 5, 3), T(1, 1, tq, 3)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_backward_node_against_torch(reduction, smoothing, kernel_mode):
    # cross_entropy's gradient with create_graph is SoftmaxCrossEntropyBackward (the fused backward kernel; its own
    # derivative on arrays) fed the rows' loss cotangents as recorded ops: second derivatives for the logits and for
    # the loss's cotangent against torch, an ignored row included, float64 and float32; gradcheck and third order
    def dce(x, g):
        lib, f = (tg, F) if isinstance(x, tg.Tensor) else (torch, torch.nn.functional)
        t = lib.tensor(np.array([1, -100, 3, 0, 2]))
        with lib.enable_grad():
            loss = f.cross_entropy(x * 1.5, t, ignore_index=-100, label_smoothing=smoothing, reduction=reduction)
            return lib.autograd.grad(loss, x, grad_outputs=g, create_graph=True)[0]
    g_shape = (5,) if reduction == "none" else ()
    check_op(dce, inputs=[(5, 4), g_shape])
    check_op(dce, inputs=[(5, 4), g_shape], dtype=np.float32, atol=1e-5, rtol=1e-4)
    gradcheck_op(dce, [(5, 4), g_shape])
    gradgradcheck_op(dce, [T(5, 4), T(*g_shape)])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_node_against_torch(approximate):
    # GELU's gradient is a node of its own (GeluBackward, the fused kernel): its values and gradients against torch's
    # second derivatives, gradcheck of it, and its own double backward (GELU's third derivative) by gradgradcheck
    def dgelu(x, v):
        lib, f = (tg, F) if isinstance(x, tg.Tensor) else (torch, torch.nn.functional)
        with lib.enable_grad():  # (gradcheck evaluates its finite differences under no_grad)
            return lib.autograd.grad((f.gelu(x, approximate=approximate) * v).sum(), x, create_graph=True)[0]
    check_op(dgelu, inputs=[(4, 6), (4, 6)])
    check_op(dgelu, inputs=[(3, 5), (3, 5)], dtype=np.float32)
    gradcheck_op(dgelu, [(3, 4), (3, 4)])
    gradgradcheck_op(dgelu, [T(3, 4), T(3, 4)])


def test_cast_double_backward():
    # a float32 round trip: a quadratic, so the coarse finite difference float32 needs is exact
    gradgradcheck_op(lambda a: a.to(tg.float32).to(tg.float64) ** 2, [T(3)], eps=1e-3, atol=1e-3)


def test_ops_without_double_backward_raise_naming_the_op():
    double_backward_raises(lambda a, b: (a // b) * a, [T(3), T(3, pos=True)], "floor_divide")
    double_backward_raises(lambda a: tg.checkpoint(lambda y: y * y, a), [T(3)], "Checkpoint")


def test_binary_cross_entropy_backward_node_against_torch():
    # binary_cross_entropy's input gradient with create_graph is _BinaryCrossEntropyGrad (torch's double-backward
    # formulas on arrays): its value and gradients for x, the target and the cotangent against torch, gradcheck, and
    # third order by gradgradcheck
    def dbce(x, t, g):
        lib, f = (tg, F) if isinstance(x, tg.Tensor) else (torch, torch.nn.functional)
        with lib.enable_grad():
            loss = f.binary_cross_entropy(x.sigmoid(), t.sigmoid(), reduction="none")
            return lib.autograd.grad(loss, x, grad_outputs=g, create_graph=True)[0]
    check_op(dbce, inputs=[(3, 4), (3, 4), (3, 4)])
    gradcheck_op(dbce, [(3, 4), (3, 4), (3, 4)])
    gradgradcheck_op(dbce, [T(3, 4), T(3, 4), T(3, 4)])


@pytest.mark.parametrize("case", ["prod", "prod_zeros", "prod_dim_zeros", "cumprod", "cumprod_zeros",
                                  "logcumsumexp", "bce", "bce_edges"])
def test_second_order_matches_torch(case):
    """The Hessian-vector product (grad of <grad f, v>) of each new double backward against torch, float64; the
    zero cases are where the first-order rule and the double backward part ways."""
    x0 = rng.standard_normal((3, 4))
    if "zeros" in case:
        x0[0, 1] = x0[0, 3] = x0[2, 0] = 0.0
    t0 = rng.random((3, 4))
    if case == "bce_edges":
        x0, t0 = np.array([[0.0, 1.0, 0.3, 0.5]]), np.array([[0.0, 1.0, 1.0, 0.5]])
    fns = {"prod": lambda m, x, t: x.prod(), "prod_zeros": lambda m, x, t: x.prod(),
           "prod_dim_zeros": lambda m, x, t: x.prod(1), "cumprod": lambda m, x, t: x.cumprod(1),
           "cumprod_zeros": lambda m, x, t: x.cumprod(1), "logcumsumexp": lambda m, x, t: x.logcumsumexp(0),
           "bce": lambda m, x, t: m.nn.functional.binary_cross_entropy(x.sigmoid(), t, reduction="none"),
           "bce_edges": lambda m, x, t: m.nn.functional.binary_cross_entropy(x, t, reduction="none")}
    v = rng.standard_normal(x0.shape)
    res = []
    for m in (tg, torch):
        x = m.tensor(x0, requires_grad=True)
        t = m.tensor(t0, requires_grad=True)
        out = fns[case](m, x, t)
        c = m.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape)))
        gx, gt = m.autograd.grad((out * c).sum(), [x, t], create_graph=True, allow_unused=True)
        second = (gx * m.tensor(v)).sum() + (0 if gt is None else (gt * m.tensor(v)).sum())
        hx, ht = m.autograd.grad(second, [x, t], allow_unused=True)
        res.append([np.zeros(x0.shape) if h is None else np.asarray(h.detach().numpy() if m is torch else h.detach())
                    for h in (hx, ht)])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- second-order results against torch --------------------------------------------------------------------------
def _tt(t):
    return torch.tensor(t.detach().numpy(), requires_grad=t.requires_grad)


def test_third_derivative_matches_torch():
    x = tg.tensor(1.3, dtype=tg.float64, requires_grad=True)
    xt = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    ds = []
    for v, lib in ((x, tg), (xt, torch)):
        y = v.sin() * v ** 3 + v.exp() * v
        d1, = lib.autograd.grad(y, v, create_graph=True)
        d2, = lib.autograd.grad(d1, v, create_graph=True)
        d3, = lib.autograd.grad(d2, v)
        ds.append(float(d3))
    np.testing.assert_allclose(ds[0], ds[1], rtol=1e-12)


def test_wgan_gp_gradient_penalty_matches_torch():
    d_tg = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Tanh(), tg.nn.Linear(8, 1)).double()
    d_th = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    for p, q in zip(d_tg.parameters(), d_th.parameters()):
        q.data = torch.tensor(p.detach().numpy())
    real, fake, eps = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.random((5, 1))
    res = []
    for lib, d in ((tg, d_tg), (torch, d_th)):
        xh = lib.tensor(eps * real + (1 - eps) * fake, requires_grad=True)
        out = d(xh)
        g, = lib.autograd.grad(out, xh, grad_outputs=lib.ones_like(out), create_graph=True)
        gp = ((g.norm(2, dim=1) - 1) ** 2).mean()
        gp.backward()
        res.append([None if p.grad is None else p.grad.detach().numpy() for p in d.parameters()])
    for a, b in zip(*res):
        assert (a is None) == (b is None)  # the last bias does not reach the penalty: None in both
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_maml_inner_step_matches_torch():
    x, y = rng.standard_normal((6, 1)), rng.standard_normal((6, 1))
    w1, b1, w2 = rng.standard_normal((8, 1)), rng.standard_normal(8), rng.standard_normal((1, 8))
    res = []
    for lib, Fn in ((tg, F), (torch, torch.nn.functional)):
        ps = [lib.tensor(a, requires_grad=True) for a in (w1, b1, w2)]
        X, Y = lib.tensor(x), lib.tensor(y)

        def net(p):
            return Fn.linear(Fn.linear(X, p[0], p[1]).tanh(), p[2])
        loss = ((net(ps) - Y) ** 2).mean()
        gs = lib.autograd.grad(loss, ps, create_graph=True)
        fast = [p - 0.1 * g for p, g in zip(ps, gs)]
        meta = ((net(fast) - Y) ** 2).mean()
        meta.backward()
        res.append([p.grad.detach().numpy() for p in ps])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_functional_against_torch():
    x0 = rng.standard_normal(3)
    v0 = rng.standard_normal(3)
    f = lambda x: (x.sin() * x * x).sum()  # noqa: E731
    g = lambda x: x.sin() * x  # noqa: E731
    X, V, Xt, Vt = tg.tensor(x0), tg.tensor(v0), torch.tensor(x0), torch.tensor(v0)
    TF = torch.autograd.functional
    np.testing.assert_allclose(AF.hessian(f, X).numpy(), TF.hessian(f, Xt).numpy(), atol=1e-12)
    np.testing.assert_allclose(AF.jacobian(g, X).numpy(), TF.jacobian(g, Xt).numpy(), atol=1e-12)
    np.testing.assert_allclose(AF.hvp(f, X, V)[1].numpy(), TF.hvp(f, Xt, Vt)[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(AF.vhp(f, X, V)[1].numpy(), TF.vhp(f, Xt, Vt)[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(AF.jvp(g, X, V)[1].numpy(), TF.jvp(g, Xt, Vt)[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(AF.vjp(g, X, V)[1].numpy(), TF.vjp(g, Xt, Vt)[1].numpy(), atol=1e-12)
    np.testing.assert_allclose(tg.func.hessian(f)(X).detach().numpy(), torch.func.hessian(f)(Xt).numpy(), atol=1e-12)
    np.testing.assert_allclose(tg.func.jacrev(g)(X).detach().numpy(), torch.func.jacrev(g)(Xt).numpy(), atol=1e-12)
    gv = tg.func.grad_and_value(f)(X)
    np.testing.assert_allclose(gv[0].detach().numpy(), torch.func.grad(f)(Xt).numpy(), atol=1e-12)
    np.testing.assert_allclose(tg.func.grad(tg.func.grad(lambda x: (x ** 4).sum()))(tg.tensor(2.0, dtype=tg.float64))
                               .detach().numpy(), 48.0)
    out, fn = tg.func.vjp(g, X)
    np.testing.assert_allclose(fn(V)[0].detach().numpy(), torch.func.vjp(g, Xt)[1](Vt)[0].numpy(), atol=1e-12)


@pytest.mark.parametrize("causal,tq,tk,p", [(True, 9, 9, 0.0), (False, 7, 11, 0.0), (True, 12, 12, 0.3),
                                            (False, 5, 8, 0.25)])
def test_attention_second_from_the_forward_lse_equals_the_recomputed_softmax(causal, tq, tk, p):
    """The double backward builds P from the forward's saved lse (no row max and sum): the same numbers as the
    softmax recomputed from scratch, with and without dropout."""
    from tensorgrad.backend import reference as R
    from tensorgrad.ops.attention import _attention_second
    rng = np.random.default_rng(7)
    q, do, uq = (rng.standard_normal((2, 3, tq, 8)) for _ in range(3))
    k, v, uk, uv = (rng.standard_normal((2, 3, tk, 8)) for _ in range(4))
    args = (causal, 0.35, p, 11, 4)
    _, lse = R.attention_forward(q, k, v, *args)
    for a, b in zip(_attention_second(q, k, v, do, uq, uk, uv, args),
                    _attention_second(q, k, v, do, uq, uk, uv, args, lse)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
