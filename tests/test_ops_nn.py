"""nn ops vs PyTorch: softmax/log_softmax, losses, layer_norm, attention, embedding, dropout, one_hot, topk,
multinomial. The fused ops (cross_entropy, layer_norm, attention, gelu [in test_ops_elementwise]) run twice
through the ``kernel_mode`` fixture: default (compiled) kernels and TENSORGRAD_KERNELS=reference."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import kernels
from helpers import check_op, gradcheck_op, lib, F, pos, unif, ints, bools, FLOATS


def T(x, arr):
    """``arr`` as a tensor of x's library, on x's device (so the cases also run on CUDA)."""
    return torch.tensor(arr, device=x.device) if isinstance(x, torch.Tensor) else tg.tensor(arr, device=x.device)


def _assert_kernel_path(mode, name):
    want = "reference" if mode == "reference" else "kernel"
    assert kernels.which(name, "cpu") == want, f"{name}: expected the {want} path in mode {mode}"


# ------------------------------------------------------------------------------------------------- softmax
SOFTMAX_DIMS = [0, 1, -1, -2]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", SOFTMAX_DIMS)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, dim, dtype):
    check_op(lambda x: getattr(x, name)(dim), inputs=[(3, 4, 5)], dtype=dtype)
    check_op(lambda x: getattr(F(x), name)(x, dim=dim), inputs=[(3, 4, 5)], dtype=dtype)
    check_op(lambda x: getattr(lib(x), name)(x, dim), inputs=[(3, 4, 5)], dtype=dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_gradcheck_1d_and_extremes(name):
    gradcheck_op(lambda x: getattr(x, name)(-1), [(2, 4)])
    gradcheck_op(lambda x: getattr(x, name)(0), [(3, 2)])
    check_op(lambda x: getattr(x, name)(0), inputs=[(6,)])
    check_op(lambda x: getattr(x, name)(-1), inputs=[np.array([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]])])


def test_softmax_dtype_argument_and_float16():
    check_op(lambda x: F(x).softmax(x, -1, dtype=torch.float64 if isinstance(x, torch.Tensor) else tg.float64),
             inputs=[(3, 4)], dtype=np.float32, atol=1e-6, rtol=1e-6)
    check_op(lambda x: x.softmax(-1), inputs=[(3, 8)], dtype=np.float16, grad=False)


# ------------------------------------------------------------------------------------------- cross_entropy
def _ce(reduction="mean", **kw):
    return lambda x, t: F(x).cross_entropy(x, t, reduction=reduction, **kw)


CE_CASES = {
    "mean": ((6, 5), (6,), {}),
    "sum": ((6, 5), (6,), {"reduction": "sum"}),
    "none": ((6, 5), (6,), {"reduction": "none"}),
    "label_smoothing": ((6, 5), (6,), {"label_smoothing": 0.1}),
    "label_smoothing_sum": ((6, 5), (6,), {"label_smoothing": 0.25, "reduction": "sum"}),
    "label_smoothing_none": ((6, 5), (6,), {"label_smoothing": 0.3, "reduction": "none"}),
    "NCd": ((3, 5, 4), (3, 4), {}),
    "NCd_none": ((3, 5, 4), (3, 4), {"reduction": "none"}),
    "NCdd": ((2, 4, 3, 2), (2, 3, 2), {"label_smoothing": 0.1}),
    "C_only": ((5,), (), {}),
    "C_only_none": ((5,), (), {"reduction": "none"}),
    "one_row": ((1, 7), (1,), {}),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(CE_CASES))
def test_cross_entropy(kernel_mode, case, dtype):
    sx, st, kw = CE_CASES[case]
    c = sx[1] if len(sx) > 1 else sx[0]
    check_op(_ce(**kw), inputs=[sx, ints(*st, high=c)], dtype=dtype)
    _assert_kernel_path(kernel_mode, "softmax_cross_entropy_forward")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_ignore_index(kernel_mode, reduction, ls):
    t = np.array([0, -100, 3, 1, -100, 4])
    check_op(_ce(reduction, label_smoothing=ls), inputs=[(6, 5), t])
    t2 = np.array([0, 2, 3, 2, 2, 4])  # custom ignore_index that is also a valid class
    check_op(_ce(reduction, label_smoothing=ls, ignore_index=2), inputs=[(6, 5), t2])
    check_op(_ce(reduction, ignore_index=1), inputs=[(2, 5, 3), np.array([[0, 1, 4], [1, 1, 2]])])


def test_cross_entropy_all_ignored_mean_is_nan(kernel_mode):
    # 0/0 like PyTorch; the gradient is nan-free in torch (zeros); check forward only on the tensorgrad side.
    x = tg.randn(3, 4, requires_grad=True)
    loss = tg.nn.functional.cross_entropy(x, tg.tensor([-100, -100, -100]))
    tl = torch.nn.functional.cross_entropy(torch.randn(3, 4), torch.tensor([-100, -100, -100]))
    assert np.isnan(loss.item()) and np.isnan(tl.item())


def test_cross_entropy_gradcheck(kernel_mode):
    gradcheck_op(_ce(), [(4, 3), ints(4, high=3)])
    gradcheck_op(_ce("none", label_smoothing=0.2), [(2, 3, 2), ints(2, 2, high=3)])
    gradcheck_op(_ce("sum", ignore_index=0), [(5, 3), np.array([0, 1, 2, 0, 2])])


def test_cross_entropy_float16_forward(kernel_mode):
    check_op(_ce(), inputs=[(4, 6), ints(4, high=6)], dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


def test_cross_entropy_bad_target_raises():
    with pytest.raises(IndexError):
        tg.nn.functional.cross_entropy(tg.randn(2, 3), tg.tensor([0, 3]))
    with pytest.raises(TypeError):
        tg.nn.functional.cross_entropy(tg.randn(2, 3), tg.tensor([0.0, 1.0]))


# ------------------------------------------------------------------------------------------------ nll_loss
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, dtype):
    f = lambda x, t: F(x).nll_loss(F(x).log_softmax(x, -1), t, reduction=reduction)  # noqa: E731
    check_op(f, inputs=[(6, 5), ints(6, high=5)], dtype=dtype)
    check_op(lambda x, t: F(x).nll_loss(x, t, reduction=reduction), inputs=[(6, 5), ints(6, high=5)], dtype=dtype)
    g = lambda x, t: F(x).nll_loss(x, t, reduction=reduction, ignore_index=-100)  # noqa: E731
    check_op(g, inputs=[(5, 4), np.array([1, -100, 3, 3, -100])], dtype=dtype)


def test_nll_loss_gradcheck():
    gradcheck_op(lambda x, t: F(x).nll_loss(x, t), [(4, 3), np.array([0, 2, 2, 1])])


# ----------------------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, dtype):
    check_op(lambda x, y: F(x).mse_loss(x, y, reduction=reduction), inputs=[(3, 4), (3, 4)], dtype=dtype)
    check_op(lambda x, y: F(x).mse_loss(x, y, reduction=reduction), inputs=[(), ()], dtype=dtype)
    gradcheck_op(lambda x, y: F(x).mse_loss(x, y, reduction=reduction), [(2, 3), (2, 3)])


def bce_case(reduction, weighted):
    """(fn, input specs, requires_grad) for binary_cross_entropy, optionally with a per-class weight."""
    specs = [unif(3, 4, low=0.05, high=0.95), unif(3, 4, low=0.0, high=1.0)]
    if weighted:
        specs.append(pos(4))
        f = lambda p, y, w: F(p).binary_cross_entropy(p, y, weight=w, reduction=reduction)  # noqa: E731
    else:
        f = lambda p, y: F(p).binary_cross_entropy(p, y, reduction=reduction)  # noqa: E731
    req = [True, True, False]  # torch: weight is not differentiable
    return f, specs, req[:len(specs)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted, dtype):
    f, specs, req = bce_case(reduction, weighted)
    check_op(f, inputs=specs, dtype=dtype, requires_grad=req)
    gradcheck_op(f, specs)  # tensorgrad's weights are differentiable: checked numerically here


def test_binary_cross_entropy_saturated_inputs_clamp_log():
    # p in {0, 1}: PyTorch clamps log at -100, so the loss stays finite.
    p = np.array([0.0, 1.0, 0.5, 1.0])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    check_op(lambda a, b: F(a).binary_cross_entropy(a, b), inputs=[p, y], grad=False)


BCE_LOGITS_EXTRAS = ["plain", "weight", "pos_weight", "both"]


def bce_logits_case(reduction, extra):
    """(fn, input specs, requires_grad) for binary_cross_entropy_with_logits with weight / pos_weight."""
    specs = [unif(3, 4, low=-4, high=4), unif(3, 4, low=0.0, high=1.0)]
    names = []
    if extra in ("weight", "both"):
        specs.append(pos(3, 4))
        names.append("weight")
    if extra in ("pos_weight", "both"):
        specs.append(pos(4, low=0.5, high=3.0))  # per-class, broadcast over rows
        names.append("pos_weight")

    def f(x, y, *ws):
        return F(x).binary_cross_entropy_with_logits(x, y, reduction=reduction, **dict(zip(names, ws)))
    req = [True, True] + [False] * len(names)  # torch: weight and pos_weight are not differentiable
    return f, specs, req


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("extra", BCE_LOGITS_EXTRAS)
def test_binary_cross_entropy_with_logits(reduction, extra, dtype):
    f, specs, req = bce_logits_case(reduction, extra)
    check_op(f, inputs=specs, dtype=dtype, requires_grad=req)
    gradcheck_op(f, specs)  # tensorgrad's weights are differentiable: checked numerically here


def test_binary_cross_entropy_with_logits_extreme_logits():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    check_op(lambda a, b: F(a).binary_cross_entropy_with_logits(a, b), inputs=[x, y])
    check_op(lambda a, b, w: F(a).binary_cross_entropy_with_logits(a, b, pos_weight=w),
             inputs=[x, y, np.array([2.0])], requires_grad=[True, True, False])


# ---------------------------------------------------------------------------------------------- layer_norm
LN_CASES = {
    "affine": ((4, 6), (6,), True, True),
    "no_affine": ((4, 6), (6,), False, False),
    "weight_only": ((4, 6), (6,), True, False),
    "bias_only": ((4, 6), (6,), False, True),
    "3d": ((2, 3, 8), (8,), True, True),
    "multi_dim": ((2, 3, 4, 5), (4, 5), True, True),
    "multi_dim_no_affine": ((2, 3, 4, 5), (3, 4, 5), False, False),
    "1d_input": ((7,), (7,), True, True),
}


def _ln_fn(ns, w, b, eps=1e-5):
    def f(x, *p):
        p = list(p)
        weight = p.pop(0) if w else None
        bias = p.pop(0) if b else None
        return F(x).layer_norm(x, ns, weight, bias, eps)
    return f


def _ln_specs(sx, ns, w, b):
    specs = [sx]
    if w:
        specs.append(unif(*ns, low=0.5, high=1.5))
    if b:
        specs.append(ns)
    return specs


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(LN_CASES))
def test_layer_norm(kernel_mode, case, dtype):
    sx, ns, w, b = LN_CASES[case]
    check_op(_ln_fn(ns, w, b), inputs=_ln_specs(sx, ns, w, b), dtype=dtype,
             atol=1e-4 if dtype == np.float32 else None)  # float32: 1/std amplifies rounding of the stats
    _assert_kernel_path(kernel_mode, "layernorm_forward")


def test_layer_norm_int_normalized_shape_and_eps(kernel_mode):
    check_op(lambda x, w, b: F(x).layer_norm(x, (5,), w, b, eps=1e-2), inputs=[(3, 5), (5,), (5,)])
    check_op(lambda x: F(x).layer_norm(x, [5]), inputs=[(3, 5)])


@pytest.mark.parametrize("case", ["affine", "no_affine", "multi_dim", "weight_only"])
def test_layer_norm_gradcheck(kernel_mode, case):
    sx, ns, w, b = LN_CASES[case]
    sx = tuple(min(s, 3) for s in sx)
    ns = sx[len(sx) - len(ns):]
    gradcheck_op(_ln_fn(ns, w, b), _ln_specs(sx, ns, w, b))


def test_layer_norm_partial_requires_grad(kernel_mode):
    check_op(_ln_fn((6,), True, True), inputs=[(4, 6), (6,), (6,)], requires_grad=[False, True, True])
    check_op(_ln_fn((6,), True, True), inputs=[(4, 6), (6,), (6,)], requires_grad=[True, False, False])


def test_layer_norm_non_contiguous_input(kernel_mode):
    check_op(lambda x, w, b: F(x).layer_norm(x.transpose(0, 1), (4,), w, b), inputs=[(4, 3), (4,), (4,)])


def test_layer_norm_float16_forward(kernel_mode):
    check_op(lambda x: F(x).layer_norm(x, (8,)), inputs=[(4, 8)], dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


def test_layer_norm_shape_mismatch_raises():
    with pytest.raises(RuntimeError):
        tg.nn.functional.layer_norm(tg.randn(3, 4), (5,))


# ----------------------------------------------------------------------------------------------- attention
def _sdpa(**kw):
    return lambda q, k, v, *m: F(q).scaled_dot_product_attention(q, k, v, *m, **kw)


SDPA_CASES = {
    "4d": (((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)), {}),
    "4d_causal": (((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)), {"is_causal": True}),
    "3d": (((3, 6, 4), (3, 6, 4), (3, 6, 4)), {}),
    "3d_causal": (((3, 6, 4), (3, 6, 4), (3, 6, 4)), {"is_causal": True}),
    "tq_ne_tk": (((2, 2, 3, 4), (2, 2, 7, 4), (2, 2, 7, 4)), {}),
    "tq_ne_tk_causal": (((1, 2, 6, 4), (1, 2, 4, 4), (1, 2, 4, 4)), {"is_causal": True}),  # top-left aligned
    "scale": (((2, 2, 5, 4), (2, 2, 5, 4), (2, 2, 5, 4)), {"scale": 0.3}),
    "scale_causal": (((2, 5, 4), (2, 5, 4), (2, 5, 4)), {"is_causal": True, "scale": 1.7}),
    "ev_ne_e": (((2, 2, 5, 4), (2, 2, 6, 4), (2, 2, 6, 3)), {}),
    "ev_ne_e_causal": (((2, 5, 4), (2, 5, 4), (2, 5, 6)), {"is_causal": True}),
    "t1": (((2, 1, 4), (2, 1, 4), (2, 1, 4)), {"is_causal": True}),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_attention(kernel_mode, case, dtype):
    shapes, kw = SDPA_CASES[case]
    check_op(_sdpa(**kw), inputs=list(shapes), dtype=dtype)
    if kw.get("is_causal") is not None or case in ("4d", "3d"):
        _assert_kernel_path(kernel_mode, "attention_forward")


BOOL_MASK_SHAPES = [(5, 7), (2, 1, 5, 7), (2, 3, 5, 7)]
FLOAT_MASK_SHAPES = [(5, 5), (2, 1, 5, 5), (2, 3, 5, 5)]


def bool_attn_mask(mask_shape):
    """torch convention: True = may attend. Every row keeps at least one visible key (else NaN in both)."""
    m = np.random.default_rng(1).random(mask_shape) < 0.6
    m[..., 0] = True
    return m


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mask_shape", BOOL_MASK_SHAPES, ids=str)
def test_attention_bool_mask(kernel_mode, mask_shape, dtype):
    m = bool_attn_mask(mask_shape)
    check_op(_sdpa(), inputs=[(2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 4), m], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mask_shape", FLOAT_MASK_SHAPES, ids=str)
def test_attention_float_mask(kernel_mode, mask_shape, dtype):
    # A float mask is added to the scores; it is differentiable in torch too.
    check_op(_sdpa(), inputs=[(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4), mask_shape], dtype=dtype)
    check_op(_sdpa(scale=0.5), inputs=[(3, 5, 4), (3, 5, 4), (3, 5, 4), mask_shape[-2:]], dtype=dtype)


def test_attention_float_mask_with_neg_inf():
    m = np.where(np.tril(np.ones((4, 4))) > 0, 0.0, -np.inf)
    check_op(_sdpa(), inputs=[(2, 4, 3), (2, 4, 3), (2, 4, 3), m], requires_grad=[True, True, True, False])


@pytest.mark.parametrize("dtype", FLOATS)
def test_attention_query_with_every_key_masked(dtype):
    """Such a row attends to nothing: output 0 and zero gradients, as torch's _safe_softmax (not NaN)."""
    m = np.ones((4, 5), bool)
    m[1] = False
    m[3, :2] = False
    for mask in (m, np.where(m, 0.0, -np.inf)):
        check_op(_sdpa(), inputs=[(2, 4, 3), (2, 5, 3), (2, 5, 3), mask], dtype=dtype,
                 requires_grad=[True, True, True, False])
    gradcheck_op(_sdpa(), [(2, 4, 3), (2, 5, 3), (2, 5, 3), m])


@pytest.mark.parametrize("case", ["4d_causal", "3d", "tq_ne_tk", "ev_ne_e_causal", "scale"])
def test_attention_gradcheck(kernel_mode, case):
    shapes, kw = SDPA_CASES[case]
    small = [tuple(min(s, 3) for s in sh) for sh in shapes]
    gradcheck_op(_sdpa(**kw), small)


def test_attention_gradcheck_masks():
    gradcheck_op(_sdpa(), [(2, 3, 2), (2, 3, 2), (2, 3, 2), np.array([[1, 0, 1], [1, 1, 0], [1, 1, 1]], bool)])
    gradcheck_op(_sdpa(), [(2, 3, 2), (2, 3, 2), (2, 3, 2), (3, 3)])


def test_attention_partial_requires_grad(kernel_mode):
    shapes, kw = SDPA_CASES["4d_causal"]
    for req in ([True, False, False], [False, True, False], [False, False, True]):
        check_op(_sdpa(**kw), inputs=list(shapes), requires_grad=req)


def test_attention_float16_forward(kernel_mode):
    shapes, kw = SDPA_CASES["4d_causal"]
    check_op(_sdpa(**kw), inputs=list(shapes), dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


def test_attention_rejects_mask_and_causal():
    q = tg.randn(1, 3, 2)
    with pytest.raises(RuntimeError):
        tg.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=tg.ones(3, 3).bool(), is_causal=True)


# ----------------------------------------------------------------------------------------------- embedding
EMBED_IDX_SHAPES = [(5,), (3, 4), (), (2, 3, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("idx_shape", EMBED_IDX_SHAPES, ids=str)
def test_embedding(idx_shape, dtype):
    # Few rows, many lookups: repeated indices must accumulate their gradients.
    check_op(lambda i, w: F(w).embedding(i, w), inputs=[ints(*idx_shape, high=4), (4, 3)], dtype=dtype)


def test_embedding_repeated_index_accumulates_exactly():
    w = tg.zeros(3, 2, requires_grad=True)
    tg.nn.functional.embedding(tg.tensor([[2, 2], [2, 0]]), w).sum().backward()
    assert w.grad.tolist() == [[1, 1], [0, 0], [3, 3]]


def test_embedding_gradcheck_and_errors():
    gradcheck_op(lambda i, w: F(w).embedding(i, w), [np.array([[0, 2, 2], [1, 0, 2]]), (3, 2)])
    with pytest.raises(IndexError):
        tg.nn.functional.embedding(tg.tensor([0, 3]), tg.randn(3, 2))
    with pytest.raises(TypeError):
        tg.nn.functional.embedding(tg.tensor([0.0]), tg.randn(3, 2))


# ------------------------------------------------------------------------------------------------- dropout
def test_dropout_identity_cases():
    x = tg.randn(4, 5, requires_grad=True)
    for y in (tg.nn.functional.dropout(x, 0.0), tg.nn.functional.dropout(x, 0.5, training=False),
              tg.nn.functional.dropout(x, p=0.9, training=False)):
        np.testing.assert_array_equal(np.asarray(y), np.asarray(x))
    check_op(lambda t: F(t).dropout(t, 0.0), inputs=[(4, 5)])
    check_op(lambda t: F(t).dropout(t, 0.7, training=False), inputs=[(4, 5)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_gradient_is_the_mask(p, dtype):
    n = 200_000
    x = tg.tensor(np.full(n, 2.0, dtype=dtype), requires_grad=True)
    y = tg.nn.functional.dropout(x, p)
    assert y.dtype == dtype
    out = np.asarray(y)
    kept = out != 0
    # Kept entries are scaled by exactly 1/(1-p); the dropped fraction is ~p (5 sigma); the mean is preserved.
    np.testing.assert_allclose(out[kept], 2.0 / (1.0 - p), rtol=1e-6)
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs((1 - kept.mean()) - p) < 5 * sigma
    assert abs(out.mean() / 2.0 - 1.0) < 5 * sigma / (1 - p)
    c = np.random.default_rng(0).standard_normal(n).astype(dtype)
    y.backward(tg.tensor(c))
    np.testing.assert_allclose(np.asarray(x.grad), c * (out / 2.0), rtol=1e-6)


@pytest.mark.parametrize("p", [0.3, 0.6])
def test_dropout_against_torch_and_gradcheck(p):
    """torch cannot draw our mask, so its side applies dropout's definition with the mask tensorgrad drew:
    x * keep / (1 - p). Reseeding inside the function keeps one mask across gradcheck's evaluations."""
    def tg_fn(x):
        tg.manual_seed(7)
        return F(x).dropout(x, p, training=True)

    tg.manual_seed(7)
    scaled_mask = np.asarray(tg.nn.functional.dropout(tg.ones(3, 5, dtype=tg.float64), p))
    assert 0 < (scaled_mask == 0).sum() < scaled_mask.size  # both kept and dropped entries are exercised
    check_op(tg_fn, lambda x: x * torch.tensor(scaled_mask), inputs=[(3, 5)])
    gradcheck_op(tg_fn, [(3, 5)])


def test_dropout_p1_zeroes_everything_and_is_seeded():
    x = tg.randn(3, 4, requires_grad=True)
    y = tg.nn.functional.dropout(x, 1.0)
    assert not np.asarray(y).any()
    y.sum().backward()
    assert not np.asarray(x.grad).any()
    tg.manual_seed(5)
    a = np.asarray(tg.nn.functional.dropout(tg.ones(50), 0.5))
    tg.manual_seed(5)
    b = np.asarray(tg.nn.functional.dropout(tg.ones(50), 0.5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        tg.nn.functional.dropout(x, 1.5)


# ------------------------------------------------------------------------------------------ one_hot / topk
@pytest.mark.parametrize("num_classes", [-1, 6])
@pytest.mark.parametrize("shape", [(5,), (2, 3), ()], ids=str)
def test_one_hot(shape, num_classes):
    idx = np.random.default_rng(0).integers(0, 4, size=shape)
    if not shape:
        idx = np.array(3)
    check_op(lambda t: F(t).one_hot(t, num_classes), inputs=[idx])


def test_one_hot_errors():
    with pytest.raises(RuntimeError):
        tg.nn.functional.one_hot(tg.tensor([0, 5]), 3)
    with pytest.raises(TypeError):
        tg.nn.functional.one_hot(tg.tensor([0.0]), 3)


TOPK_CASES = [(1, -1, True), (3, -1, True), (2, 0, True), (3, 1, False), (5, -1, False)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("k,dim,largest", TOPK_CASES)
def test_topk(k, dim, largest, dtype):
    # Values carry the gradient (through gather), indices none; standard-normal inputs have no ties.
    check_op(lambda x: x.topk(k, dim=dim, largest=largest), inputs=[(4, 5)], dtype=dtype)
    check_op(lambda x: lib(x).topk(x, k, dim, largest), inputs=[(4, 5)], dtype=dtype)


def test_topk_values_have_grad_and_sort():
    x = tg.randn(3, 4, requires_grad=True)
    v, i = x.topk(2)
    assert v.requires_grad and not i.requires_grad and i.dtype == np.int64
    check_op(lambda t: lib(t).sort(t, dim=-1), inputs=[(3, 6)])
    check_op(lambda t: lib(t).sort(t, dim=0, descending=True), inputs=[(3, 6)])
    with pytest.raises(RuntimeError):
        x.topk(5)


# ------------------------------------------------------------------------------------------------ multinomial
def test_multinomial_shapes_and_range():
    g = tg.Generator(seed=3)
    p1 = tg.tensor([0.2, 0.0, 0.5, 0.3])
    s = tg.multinomial(p1, 10, replacement=True, generator=g)
    assert s.shape == (10,) and s.dtype == np.int64
    assert set(s.tolist()) <= {0, 2, 3}  # zero-probability category never drawn
    p2 = tg.tensor(np.random.default_rng(0).random((3, 6)))
    s2 = p2.multinomial(4, generator=g)
    assert s2.shape == (3, 4) and int(s2.min()) >= 0 and int(s2.max()) < 6
    for row in s2.tolist():  # without replacement: distinct per row
        assert len(set(row)) == 4
    assert sorted(tg.multinomial(p2, 6, generator=g)[0].tolist()) == list(range(6))
    with pytest.raises(RuntimeError):
        tg.multinomial(p1, 4)  # without replacement: only 3 categories have mass > 0 (torch: RuntimeError)
    with pytest.raises(RuntimeError):
        tg.multinomial(p1, 5)  # more samples than categories
    with pytest.raises(RuntimeError):
        tg.multinomial(tg.tensor([-0.1, 1.0]), 1)


def test_multinomial_is_seeded():
    tg.manual_seed(11)
    a = tg.multinomial(tg.ones(10), 5).tolist()
    tg.manual_seed(11)
    assert tg.multinomial(tg.ones(10), 5).tolist() == a


def test_multinomial_frequencies_match_probabilities():
    probs = np.array([1.0, 2.0, 7.0])  # unnormalized weights, like torch
    n = 30_000
    s = np.asarray(tg.multinomial(tg.tensor(probs), n, replacement=True, generator=tg.Generator(seed=1)))
    freq = np.bincount(s, minlength=3) / n
    p = probs / probs.sum()
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n)), (freq, p)


def test_attention_non_contiguous_inputs(kernel_mode):
    # The GPT layout: (B, T, H, D) transposed to (B, H, T, D) views.
    f = lambda q, k, v: F(q).scaled_dot_product_attention(  # noqa: E731
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
    check_op(f, inputs=[(2, 5, 3, 4)] * 3)
    check_op(f, inputs=[(2, 5, 3, 4)] * 3, dtype=np.float32)


# ----------------------------------------------------------------------------------------- packed_attention
def _torch_packed(qkv, n_head, is_causal=True, scale=None):
    """The nanoGPT way: split q|k|v, split heads, SDPA, merge heads."""
    b, t, c3 = qkv.shape
    c = c3 // 3
    q, k, v = (x.reshape(b, t, n_head, c // n_head).transpose(1, 2) for x in qkv.split(c, dim=2))
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=scale)
    return y.transpose(1, 2).reshape(b, t, c)


PACKED_CASES = [((2, 5, 12), 2, {}), ((1, 7, 24), 4, {"is_causal": False}), ((3, 1, 6), 1, {}),
                ((2, 9, 18), 3, {"scale": 0.7})]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,n_head,kw", PACKED_CASES, ids=str)
def test_packed_attention(kernel_mode, shape, n_head, kw, dtype):
    check_op(lambda qkv: tg.nn.functional.packed_attention(qkv, n_head, **kw),
             lambda qkv: _torch_packed(qkv, n_head, **kw), inputs=[shape], dtype=dtype)
    _assert_kernel_path(kernel_mode, "attention_forward")


def test_packed_attention_gradcheck():
    gradcheck_op(lambda qkv: tg.nn.functional.packed_attention(qkv, 2), [(2, 4, 12)])
    gradcheck_op(lambda qkv: tg.nn.functional.packed_attention(qkv, 3, is_causal=False, scale=0.4), [(1, 3, 18)])


def test_packed_attention_with_dropout_uses_the_composed_path():
    tg.manual_seed(0)
    qkv = tg.randn(2, 5, 12, requires_grad=True)
    y = tg.nn.functional.packed_attention(qkv, 2, dropout_p=0.5)
    assert y.shape == (2, 5, 4)
    y.sum().backward()
    assert qkv.grad.shape == qkv.shape


def test_packed_attention_bad_shape():
    with pytest.raises(RuntimeError, match=r"packed_attention.*\(2, 5, 13\)"):
        tg.nn.functional.packed_attention(tg.randn(2, 5, 13), 2)


def test_dropout_signature_and_inplace_as_torch():
    import inspect
    assert list(inspect.signature(tg.nn.functional.dropout).parameters)[:4] == \
        list(inspect.signature(torch.nn.functional.dropout).parameters)
    x = tg.ones(50, 40)
    tg.manual_seed(3)
    y = tg.nn.functional.dropout(x, 0.5, True, True)  # torch's positional inplace
    assert y is x and 0 < (np.asarray(x) == 0).sum() < x.numel()
    m = tg.nn.Dropout(0.5, inplace=True)
    z = tg.ones(8, 8)
    assert m(z) is z
    w = tg.ones(8, 8, requires_grad=True)  # recorded for backward: out of place, as the other inplace= ops
    assert tg.nn.functional.dropout(w, 0.5, True, True) is not w
