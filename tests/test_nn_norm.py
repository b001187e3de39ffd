"""Channel normalization vs PyTorch: F.batch_norm (training / eval, running-buffer updates), F.instance_norm (with
and without running buffers), F.group_norm, F.local_response_norm (forward + every gradient, float64 and float32);
the modules BatchNorm1d/2d (several training steps then eval, compared with torch's module step by step including
running_mean / running_var / num_batches_tracked, momentum=None), InstanceNorm1d/2d, GroupNorm, LocalResponseNorm
(parameters, buffers, state_dict keys, reprs); channel dropout (Dropout1d/2d); float64 gradchecks; bad input."""
import re
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, F, pos, assert_param_grads_match, copy_to_torch, FLOATS

torch.set_num_threads(1)
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def nn(x):
    return torch.nn if isinstance(x, torch.Tensor) else tg.nn


def running(lib, c, dtype):
    """Fresh (running_mean, running_var) buffers of lib: zeros and ones."""
    if lib is torch:
        return torch.zeros(c, dtype=TDT[dtype]), torch.ones(c, dtype=TDT[dtype])
    return tg.zeros(c, dtype=dtype), tg.ones(c, dtype=dtype)


# ---------------------------------------------------------------------------------------------- batch_norm
BN_SHAPES = [(4, 3), (4, 3, 5), (2, 3, 4, 5), (3, 2, 1, 2, 3), (1, 3, 2), (2, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_training(shape, affine, dtype):
    c = shape[1]
    if affine:
        check_op(lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True), inputs=[shape, (c,), (c,)],
                 dtype=dtype)
        check_op(lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True, 0.1, 1e-3), inputs=[shape, (c,), (c,)],
                 dtype=dtype, seed=1)
    else:
        check_op(lambda x: F(x).batch_norm(x, None, None, training=True), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_eval_uses_the_running_buffers(shape, dtype):
    c = shape[1]
    check_op(lambda x, m, v, w, b: F(x).batch_norm(x, m, v, w, b, False), inputs=[shape, (c,), pos(c), (c,), (c,)],
             requires_grad=[True, False, False, True, True], dtype=dtype)
    check_op(lambda x, m, v: F(x).batch_norm(x, m, v, eps=0.5), inputs=[shape, (c,), pos(c)],
             requires_grad=[True, False, False], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
def test_batch_norm_running_buffers_follow_torch(momentum, dtype):
    rng = np.random.default_rng(0)
    ours, theirs = running(tg, 3, dtype), running(torch, 3, dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for step in range(4):
        x = (rng.standard_normal((5, 3, 4)) * 3 + step).astype(dtype)
        tg.nn.functional.batch_norm(tg.tensor(x), *ours, training=True, momentum=momentum)
        torch.nn.functional.batch_norm(torch.tensor(x), *theirs, training=True, momentum=momentum)
        for a, b in zip(ours, theirs):
            assert a.dtype == dtype
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)
    # eval leaves them alone
    before = [a.numpy().copy() for a in ours]
    tg.nn.functional.batch_norm(tg.randn(5, 3, dtype=dtype), *ours, training=False)
    assert all((a.numpy() == b).all() for a, b in zip(ours, before))


def test_batch_norm_only_one_running_buffer_and_float16():
    m = tg.zeros(3)
    tg.nn.functional.batch_norm(tg.randn(4, 3), m, None, training=True)
    assert np.abs(m.numpy()).sum() > 0
    check_op(lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True), inputs=[(6, 3, 5), (3,), (3,)],
             dtype=np.float16, atol=1e-2, rtol=1e-2)


def test_batch_norm_empty_batch():
    check_op(lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True), inputs=[(0, 3, 2), (3,), (3,)])
    m, v = tg.zeros(3), tg.ones(3)
    tg.nn.functional.batch_norm(tg.zeros(0, 3), m, v, training=True)
    assert (m.numpy() == 0).all() and (v.numpy() == 1).all()


# -------------------------------------------------------------------------------------------- instance_norm
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3), (3, 1, 2, 2)], ids=str)
def test_instance_norm(shape, dtype):
    c = shape[1]
    check_op(lambda x: F(x).instance_norm(x), inputs=[shape], dtype=dtype)
    check_op(lambda x, w, b: F(x).instance_norm(x, weight=w, bias=b, eps=1e-3), inputs=[shape, (c,), (c,)],
             dtype=dtype)
    check_op(lambda x, m, v, w, b: F(x).instance_norm(x, m, v, w, b, use_input_stats=False),
             inputs=[shape, (c,), pos(c), (c,), (c,)], requires_grad=[True, False, False, True, True], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_instance_norm_running_buffers_follow_torch(dtype):
    rng = np.random.default_rng(1)
    ours, theirs = running(tg, 3, dtype), running(torch, 3, dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for step in range(3):
        x = (rng.standard_normal((4, 3, 2, 3)) * 2 - step).astype(dtype)
        tg.nn.functional.instance_norm(tg.tensor(x), *ours, momentum=0.3)
        torch.nn.functional.instance_norm(torch.tensor(x), *theirs, momentum=0.3)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------------------------- group_norm
GROUPS = [((2, 6, 4, 5), 1), ((2, 6, 4, 5), 2), ((2, 6, 4, 5), 3), ((2, 6, 4, 5), 6), ((3, 4), 2), ((2, 4, 7), 4),
          ((1, 6, 3), 3), ((2, 2, 1, 1, 3), 1), ((0, 4, 3), 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,groups", GROUPS, ids=str)
def test_group_norm(shape, groups, dtype):
    c = shape[1]
    check_op(lambda x, w, b: F(x).group_norm(x, groups, w, b), inputs=[shape, (c,), (c,)], dtype=dtype)
    check_op(lambda x: F(x).group_norm(x, groups, eps=0.1), inputs=[shape], dtype=dtype)
    check_op(lambda x, w: F(x).group_norm(x, groups, w), inputs=[shape, (c,)], dtype=dtype)


# -------------------------------------------------------------------------------------- local_response_norm
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,size", [((2, 5, 4), 3), ((2, 6, 3, 4), 2), ((2, 6, 3, 4), 1), ((2, 3, 4), 9),
                                        ((1, 4, 2, 2, 3), 4), ((0, 3, 4), 2)], ids=str)
def test_local_response_norm(shape, size, dtype):
    check_op(lambda x: F(x).local_response_norm(x, size), inputs=[shape], dtype=dtype)
    check_op(lambda x: F(x).local_response_norm(x, size, 0.1, 0.5, 2.0), inputs=[shape], dtype=dtype)


def test_norms_gradcheck():
    gradcheck_op(lambda x, w, b: F(x).batch_norm(x, None, None, w, b, True), [(4, 3, 5), (3,), (3,)])
    gradcheck_op(lambda x, w, b: F(x).instance_norm(x, weight=w, bias=b), [(2, 3, 5), (3,), (3,)])
    gradcheck_op(lambda x, w, b: F(x).group_norm(x, 2, w, b), [(2, 4, 3, 2), (4,), (4,)])
    gradcheck_op(lambda x: F(x).local_response_norm(x, 3, 0.1, 0.75, 1.0), [(2, 5, 4)])


# ------------------------------------------------------------------------------------------------- modules
def _step(m, tm, x, dtype, tol):
    """One forward/backward of m and tm on x: output, input gradient, parameter gradients and buffers agree."""
    a, ta = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = m(a), tm(ta)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    w = np.random.default_rng(x.size).standard_normal(y.shape).astype(dtype)
    (y * tg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=tol, atol=tol)
    assert_param_grads_match(m, tm, tol, tol)
    theirs = tm.state_dict()
    assert list(m.state_dict()) == list(theirs)
    for name, v in m.state_dict().items():
        assert v.numpy().dtype == theirs[name].numpy().dtype, name
        np.testing.assert_allclose(v.numpy(), theirs[name].numpy(), rtol=tol, atol=tol, err_msg=name)


def _train_then_eval(make, shape, dtype, steps=3):
    tol = {np.float64: 1e-10, np.float32: 1e-4}[dtype]  # float32: inputs up to ~10 after the scaled steps
    m, tm = make(tg.nn), make(torch.nn)
    m.to(dtype)
    tm.to(TDT[dtype])
    rng = np.random.default_rng(0)
    with tg.no_grad():  # non-trivial affine parameters
        for p in m.parameters():
            p.copy_(tg.tensor(rng.standard_normal(p.shape).astype(dtype)))
    copy_to_torch(m, tm)
    for step in range(steps):
        _step(m, tm, (rng.standard_normal(shape) * (1 + step) + step).astype(dtype), dtype, tol)
    m.eval()
    tm.eval()
    _step(m, tm, rng.standard_normal(shape).astype(dtype), dtype, tol)
    m.train()
    tm.train()
    _step(m, tm, rng.standard_normal(shape).astype(dtype), dtype, tol)


BN_MODULES = [
    (lambda T: T.BatchNorm1d(3), (4, 3)),
    (lambda T: T.BatchNorm1d(3), (4, 3, 5)),
    (lambda T: T.BatchNorm1d(3, momentum=None), (4, 3, 5)),
    (lambda T: T.BatchNorm1d(3, affine=False, momentum=0.5), (5, 3)),
    (lambda T: T.BatchNorm1d(3, track_running_stats=False), (4, 3, 2)),
    (lambda T: T.BatchNorm2d(4), (2, 4, 3, 5)),
    (lambda T: T.BatchNorm2d(4, eps=1e-3, momentum=None), (2, 4, 3, 5)),
    (lambda T: T.BatchNorm2d(4, affine=False, track_running_stats=False), (2, 4, 3, 3)),
    (lambda T: T.InstanceNorm2d(3), (2, 3, 4, 5)),
    (lambda T: T.InstanceNorm2d(3, affine=True), (2, 3, 4, 5)),
    (lambda T: T.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 5)),
    (lambda T: T.InstanceNorm2d(3, track_running_stats=True, momentum=None), (3, 4, 5)),
    (lambda T: T.InstanceNorm1d(3, affine=True, track_running_stats=True), (2, 3, 6)),
    (lambda T: T.InstanceNorm1d(3), (3, 6)),
    (lambda T: T.GroupNorm(2, 4), (2, 4, 3, 5)),
    (lambda T: T.GroupNorm(4, 4, affine=False), (3, 4, 5)),
    (lambda T: T.GroupNorm(1, 6, eps=1e-3), (2, 6)),
    (lambda T: T.GroupNorm(3, 6, bias=False), (2, 6, 4)),
    (lambda T: T.BatchNorm2d(4, bias=False), (2, 4, 3, 5)),
    (lambda T: T.InstanceNorm1d(3, affine=True, bias=False), (2, 3, 6)),
    (lambda T: T.LocalResponseNorm(3), (2, 5, 4, 3)),
    (lambda T: T.LocalResponseNorm(2, 0.1, 0.5, 2.0), (2, 4, 6)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make,shape", BN_MODULES, ids=lambda v: str(v) if isinstance(v, tuple) else "")
def test_norm_module_training_steps_then_eval(make, shape, dtype):
    _train_then_eval(make, shape, dtype)


def test_batch_norm_module_buffers_and_state_dict():
    m, tm = tg.nn.BatchNorm2d(5), torch.nn.BatchNorm2d(5)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                                               "num_batches_tracked"]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert m.num_batches_tracked.dtype == np.int64 and m.num_batches_tracked.shape == ()
    assert m.running_mean.dtype == np.float32 and not m.running_mean.requires_grad
    copy_to_torch(m, tm)
    m.to(tg.float64)
    assert m.running_var.dtype == np.float64 and m.num_batches_tracked.dtype == np.int64
    m2 = tg.nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(m2.state_dict()) == [] and m2.running_mean is None and m2.weight is None
    m3 = tg.nn.InstanceNorm2d(3)
    assert list(m3.state_dict()) == list(torch.nn.InstanceNorm2d(3).state_dict()) == []
    m4 = tg.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    assert list(m4.state_dict()) == list(torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
                                         .state_dict())
    # reset_running_stats / reset_parameters
    m5 = tg.nn.BatchNorm1d(2)
    m5(tg.randn(4, 2) * 3 + 1)
    assert int(m5.num_batches_tracked.item()) == 1 and np.abs(m5.running_mean.numpy()).sum() > 0
    m5.reset_running_stats()
    assert int(m5.num_batches_tracked.item()) == 0 and (m5.running_mean.numpy() == 0).all()
    assert (m5.running_var.numpy() == 1).all()


def test_batch_norm_module_loads_a_torch_state_dict():
    tm = torch.nn.BatchNorm2d(3)
    tm(torch.randn(4, 3, 2, 2) * 2 + 1)
    m = tg.nn.BatchNorm2d(3)
    m.load_state_dict(tm.state_dict())
    assert int(m.num_batches_tracked.item()) == 1
    np.testing.assert_allclose(m.running_var.numpy(), tm.running_var.numpy())


@pytest.mark.parametrize("make", [m for m, _ in BN_MODULES] + [
    lambda T: T.BatchNorm2d(3, 1e-3, None, False, False), lambda T: T.InstanceNorm1d(4, momentum=None),
    lambda T: T.Dropout1d(), lambda T: T.Dropout2d(0.3, True)])
def test_norm_module_repr(make):
    assert repr(make(tg.nn)) == repr(make(torch.nn))


# ------------------------------------------------------------------------------------------ channel dropout
@pytest.mark.parametrize("op,shape", [("dropout1d", (8, 16, 5)), ("dropout1d", (16, 5)), ("dropout2d", (8, 16, 3, 4))],
                         ids=str)
def test_channel_dropout_zeroes_whole_channels(op, shape):
    fn = getattr(tg.nn.functional, op)
    x = tg.tensor(np.random.default_rng(0).uniform(0.5, 1.5, shape), requires_grad=True)
    y = fn(x, 0.4)
    keep = (y.detach().numpy() != 0)
    # A channel is kept or dropped as a whole, and the kept ones are scaled by 1 / (1 - p).
    per_channel = keep.reshape((shape[:1] if len(shape) == 2 else shape[:2]) + (-1,))
    assert (per_channel.all(-1) | ~per_channel.any(-1)).all()
    np.testing.assert_allclose(y.detach().numpy()[keep], x.detach().numpy()[keep] / 0.6, rtol=1e-6)
    assert 0.3 < keep.mean() < 0.9
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), keep * (2 / 0.6), rtol=1e-6)
    assert fn(x, 0.4, training=False) is x and fn(x, 0.0) is x
    assert (fn(x, 1.0).detach().numpy() == 0).all()


def test_channel_dropout_uses_the_default_generator():
    x = tg.ones(4, 8, 3, 3)
    tg.manual_seed(5)
    a = tg.nn.functional.dropout2d(x).numpy()
    tg.manual_seed(5)
    b = tg.nn.functional.dropout2d(x).numpy()
    assert (a == b).all()


def test_channel_dropout_modules_and_inplace():
    m = tg.nn.Dropout2d(0.5)
    x = tg.ones(4, 6, 2, 2)
    assert (m(x).numpy() != 1).any()
    m.eval()
    assert m(x) is x
    y = tg.ones(4, 6, 3)
    out = tg.nn.functional.dropout1d(y, 0.5, inplace=True)
    assert out is y and set(np.unique(y.numpy())) <= {0.0, 2.0}
    z = tg.ones(6, 3)
    tg.nn.Dropout1d(0.5, inplace=True)(z)
    assert set(np.unique(z.numpy())) <= {0.0, 2.0}


def test_dropout2d_warns_on_3d_input_as_torch():
    with pytest.warns(UserWarning, match="dropout2d: received a 3-D input"):
        tg.nn.functional.dropout2d(tg.ones(2, 3, 4))
    with pytest.warns(UserWarning, match="dropout2d: received a 2-D input"):
        tg.nn.functional.dropout2d(tg.ones(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.nn.functional.dropout2d(tg.ones(2, 3, 4, 4))


# ----------------------------------------------------------------------------------------------- bad input
def _raises(exc, pattern, fn):
    with pytest.raises(exc, match=pattern):
        fn()


def test_norm_errors_name_the_op_and_the_shapes():
    fn = tg.nn.functional
    x = tg.randn(2, 3, 4, 5)
    _raises(RuntimeError, re.escape("batch_norm: running_mean of shape (4,) should have one entry per channel: (3,) "
                                    "for the input of shape (2, 3, 4, 5)"),
            lambda: fn.batch_norm(x, tg.zeros(4), tg.ones(4), training=True))
    _raises(RuntimeError, re.escape("batch_norm: weight of shape (4,) should have one entry per channel: (3,)"),
            lambda: fn.batch_norm(x, None, None, tg.ones(4), training=True))
    _raises(RuntimeError, re.escape("batch_norm: running_mean of shape (4,) should have one entry per channel: (3,) "
                                    "for the input of shape (2, 3, 4, 5)"), lambda: tg.nn.BatchNorm2d(4)(x))
    _raises(ValueError, re.escape("BatchNorm2d: expected 4D input (got 3D input of shape (2, 3, 4))"),
            lambda: tg.nn.BatchNorm2d(3)(tg.randn(2, 3, 4)))
    _raises(ValueError, re.escape("BatchNorm1d: expected 2D or 3D input (got 4D input of shape (2, 3, 4, 5))"),
            lambda: tg.nn.BatchNorm1d(3)(x))
    _raises(ValueError, re.escape("batch_norm: expected more than 1 value per channel when training, got input of "
                                  "shape (1, 3)"), lambda: tg.nn.BatchNorm1d(3)(tg.randn(1, 3)))
    _raises(RuntimeError, "batch_norm: running_mean and running_var must be given when training=False",
            lambda: fn.batch_norm(x, None, None, training=False))
    _raises(TypeError, "batch_norm: momentum must be a float, got None",
            lambda: fn.batch_norm(x, None, None, training=True, momentum=None))
    _raises(RuntimeError, re.escape("batch_norm: expected an input of shape (N, C, *) with at least 2 dims, got shape "
                                    "(3,)"), lambda: fn.batch_norm(tg.randn(3), None, None, training=True))
    _raises(TypeError, "batch_norm: expected a floating point input, got int64",
            lambda: fn.batch_norm(x.to(tg.int64), None, None, training=True))
    _raises(RuntimeError, re.escape("group_norm: the 3 channels of the input of shape (2, 3, 4, 5) are not divisible "
                                    "into num_groups=2 groups"), lambda: fn.group_norm(x, 2))
    _raises(RuntimeError, "group_norm: the 3 channels .* num_groups=0", lambda: fn.group_norm(x, 0))
    _raises(RuntimeError, re.escape("group_norm: weight of shape (4,) should have one entry per channel: (3,)"),
            lambda: fn.group_norm(x, 3, tg.ones(4)))
    _raises(ValueError, re.escape("GroupNorm: num_channels (6) must be divisible by num_groups (4)"),
            lambda: tg.nn.GroupNorm(4, 6))
    _raises(ValueError, re.escape("instance_norm: expected more than 1 spatial element when training, got input of "
                                  "shape (2, 3)"), lambda: fn.instance_norm(tg.randn(2, 3)))
    _raises(RuntimeError, "instance_norm: running_mean and running_var must be given when use_input_stats=False",
            lambda: fn.instance_norm(x, use_input_stats=False))
    _raises(ValueError, re.escape("InstanceNorm2d: expected input's size at dim=1 to match num_features (4), but got: "
                                  "3"), lambda: tg.nn.InstanceNorm2d(4, affine=True)(x))
    with pytest.warns(UserWarning, match="InstanceNorm2d: expected input's size at dim=1"):
        tg.nn.InstanceNorm2d(4)(x)
    _raises(ValueError, re.escape("InstanceNorm2d: expected 3D or 4D input (got 2D input of shape (2, 3))"),
            lambda: tg.nn.InstanceNorm2d(3)(tg.randn(2, 3)))
    _raises(ValueError, re.escape("local_response_norm: expected a 3-D or higher input (N, C, *), got shape (2, 3)"),
            lambda: fn.local_response_norm(tg.randn(2, 3), 2))
    _raises(ValueError, "dropout2d: dropout probability has to be between 0 and 1, but got 1.5",
            lambda: fn.dropout2d(x, 1.5))
    _raises(RuntimeError, re.escape("dropout1d: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape (2, 3, 4, 5)"),
            lambda: fn.dropout1d(x))
    _raises(ValueError, "Dropout2d: dropout probability has to be between 0 and 1", lambda: tg.nn.Dropout2d(-0.1))
