"""The rest of torch's top-level names and Tensor methods that public code calls (ops/extra_compat.py, settings.py,
jit.py, autograd.Variable), each compared with torch on the same data: values, dtypes, gradients, errors."""
import multiprocessing
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, lib, F

RNG = np.random.default_rng(0)


def _both(a):
    return tg.tensor(a), torch.tensor(a)


def _eq(x, t, exact=False):
    assert tuple(x.shape) == tuple(t.shape), (x.shape, t.shape)
    assert str(x.dtype) == str(t.dtype).replace("torch.", ""), (x.dtype, t.dtype)
    if exact:
        np.testing.assert_array_equal(np.asarray(x), t.numpy())
    else:
        np.testing.assert_allclose(np.asarray(x), t.numpy(), rtol=1e-6, atol=1e-7)


def test_constants():
    for n in ("inf", "nan", "pi", "e", "newaxis"):
        a, b = getattr(tg, n), getattr(torch, n)
        assert (a is b is None) or (a == b) or (np.isnan(a) and np.isnan(b))


# ------------------------------------------------------------------------------------------- math, with gradients
@pytest.mark.parametrize("shapes", [[(3,)], [(2, 3)], [(0, 2)]])
def test_exp2_positive(shapes):
    check_op(lambda a: lib(a).exp2(a), inputs=shapes)
    check_op(lambda a: a.exp2(), inputs=shapes)
    check_op(lambda a: lib(a).positive(a) * 2, inputs=shapes)
    x, t = _both([1, 2, 3])
    _eq(tg.exp2(x), torch.exp2(t))  # integers give the default float dtype


def test_positive_refuses_bool():
    for m, x in ((tg, tg.tensor([True])), (torch, torch.tensor([True]))):
        with pytest.raises(RuntimeError, match="bool tensor is not supported"):
            m.positive(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_power(dtype):
    check_op(lambda a, b: lib(a).float_power(a.abs() + 0.5, b), inputs=[(2, 3), (3,)], dtype=dtype, check_dtype=True)
    check_op(lambda a: lib(a).float_power(a.abs() + 0.5, 2.5), inputs=[(4,)], dtype=dtype)
    check_op(lambda a: lib(a).float_power(2, a), inputs=[(4,)], dtype=dtype)
    x, t = _both(np.arange(1, 5, dtype=dtype))
    if dtype == np.float32:
        for v in (x, t):
            with pytest.raises(RuntimeError, match="float_power_ has dtype Float but the operation's result requires"):
                v.float_power_(2)
    else:
        _eq(x.clone().float_power_(3), t.clone().float_power_(3))


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((3,), (2, 2)), ((2, 1, 2), (3,)), ((0, 2), (2, 2)), ((), (3,))])
def test_kron(sa, sb):
    check_op(lambda a, b: lib(a).kron(a, b), inputs=[sa, sb])
    check_op(lambda a, b: a.kron(b), inputs=[sa, sb])


@pytest.mark.parametrize("shape,offset", [((3,), 0), ((2, 2), 1), ((4,), -2), ((0,), 0)])
def test_diagflat(shape, offset):
    check_op(lambda a: lib(a).diagflat(a, offset), inputs=[shape])
    check_op(lambda a: a.diagflat(offset), inputs=[shape])


def test_gcd_lcm():
    a = RNG.integers(-30, 30, (4, 5))
    b = RNG.integers(-30, 30, (5,))
    for name in ("gcd", "lcm"):
        _eq(getattr(tg, name)(tg.tensor(a), tg.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b)),
            exact=True)
        x = tg.tensor(a)
        getattr(x, name + "_")(tg.tensor(b))
        _eq(x, getattr(torch.tensor(a), name)(torch.tensor(b)), exact=True)
    with pytest.raises(RuntimeError, match="gcd.*not implemented for 'Float'"):
        tg.gcd(tg.ones(2), tg.ones(2))


# ------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("shapes", [[(2, 3), (3,)], [(1,), (4, 1), (2, 1, 1)], [(0, 3), (1, 3)], [()]])
def test_broadcast_tensors_and_shapes(shapes):
    assert tuple(tg.broadcast_shapes(*shapes)) == tuple(torch.broadcast_shapes(*shapes))
    assert isinstance(tg.broadcast_shapes(*shapes), tg.Size)
    check_op(lambda *xs: lib(xs[0]).broadcast_tensors(*xs), inputs=shapes)
    assert tuple(tg.broadcast_shapes(2, (3, 1))) == tuple(torch.broadcast_shapes(2, (3, 1)))


def test_broadcast_shapes_error_as_torch():
    for m in (tg, torch):
        with pytest.raises(RuntimeError, match=r"Attempting to broadcast a dimension of length 4 at -2! Mismatching "
                                               r"argument at index 1 had \(4, 3\)"):
            m.broadcast_shapes((2, 3), (4, 3))


@pytest.mark.parametrize("idx,shape", [([4, 5, 0], (2, 3)), ([-1, 7], (2, 3)), ([[1, 2], [3, 4]], (5,)),
                                       (11, (3, 4)), ([0], (1, 1, 1))])
def test_unravel_index(idx, shape):
    ours, theirs = tg.unravel_index(tg.tensor(idx), shape), torch.unravel_index(torch.tensor(idx), shape)
    assert len(ours) == len(theirs)
    for x, t in zip(ours, theirs):
        _eq(x, t, exact=True)
    with pytest.raises(TypeError):
        tg.unravel_index(tg.tensor([1.0]), (2,))


def test_split_with_sizes_and_unsafe():
    check_op(lambda a: lib(a).split_with_sizes(a, [1, 3, 0], 1), inputs=[(2, 4)])
    check_op(lambda a: a.split_with_sizes([2, 2]), inputs=[(4, 3)])
    check_op(lambda a: a.unsafe_chunk(2, 1), inputs=[(2, 4)])
    check_op(lambda a: lib(a).unsafe_split(a, 3), inputs=[(7,)])
    for m in (tg, torch):
        with pytest.raises(RuntimeError, match=r"split_with_sizes expects split_sizes to sum exactly to 5"):
            m.split_with_sizes(m.arange(5), [2, 2])
    check_op(lambda a: a.hsplit(2), inputs=[(3, 4)])
    check_op(lambda a: a.vsplit([1]), inputs=[(3, 4)])
    check_op(lambda a: a.dsplit(2), inputs=[(2, 2, 4)])


def test_chain_matmul_warns_and_multiplies():
    # torch warns once per process unless warn_always is on, and an earlier test (the fuzz table) may have had it
    was = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        for m in (tg, torch):
            with pytest.warns(UserWarning, match="chain_matmul is deprecated"):
                m.chain_matmul(m.ones(2, 3), m.ones(3, 4))
    finally:
        torch.set_warn_always(was)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_op(lambda a, b, c: lib(a).chain_matmul(a, b, c), inputs=[(2, 3), (3, 4), (4, 2)])


# ------------------------------------------------------------------------------------------- factories
@pytest.mark.parametrize("s", [3, 2.5, True, -1])
def test_scalar_tensor(s):
    _eq(tg.scalar_tensor(s), torch.scalar_tensor(s))
    _eq(tg.scalar_tensor(s, dtype=tg.int64), torch.scalar_tensor(s, dtype=torch.int64))


@pytest.mark.parametrize("args", [(0, 1, 0.25), (1, 4), (3, -1, -0.5), (0, 1, 0.3), (2, 2)])
def test_range_is_inclusive_and_deprecated(args):
    for m in (tg, torch):
        with pytest.warns(UserWarning, match="torch.range is deprecated"):
            m.range(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _eq(tg.range(*args), torch.range(*args))
        _eq(tg.range(*args, dtype=tg.float64), torch.range(*args, dtype=torch.float64))
        for m in (tg, torch):
            with pytest.raises(TypeError):
                m.range(5)


def test_asarray_shares_like_torch():
    a = np.arange(6.0).reshape(2, 3)
    x, t = tg.asarray(a), torch.asarray(a)
    a[0, 0] = 9
    assert float(x[0, 0]) == float(t[0, 0]) == 9  # both share the array
    x2, t2 = tg.asarray(a, copy=True), torch.asarray(a, copy=True)
    a[0, 0] = 1
    assert float(x2[0, 0]) == float(t2[0, 0]) == 9
    _eq(tg.asarray([1, 2.5]), torch.asarray([1, 2.5]))
    _eq(tg.asarray(a, dtype=tg.float32), torch.asarray(a, dtype=torch.float32))
    y = tg.ones(3)
    assert tg.asarray(y) is y
    for m, v in ((tg, tg.ones(3)), (torch, torch.ones(3))):
        with pytest.raises(ValueError):
            m.asarray(v, dtype=m.float64, copy=False)
    r = tg.asarray(np.ones(2), requires_grad=True)
    assert r.requires_grad and r.is_leaf


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window",
                                  "kaiser_window"])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 8])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(name, n, periodic):
    x, t = getattr(tg, name)(n, periodic), getattr(torch, name)(n, periodic)
    assert tuple(x.shape) == tuple(t.shape) and str(x.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(x), t.numpy(), atol=2e-6)
    x, t = getattr(tg, name)(n, periodic, dtype=tg.float64), getattr(torch, name)(n, periodic, dtype=torch.float64)
    np.testing.assert_allclose(np.asarray(x), t.numpy(), atol=1e-12)


def test_window_keywords_and_errors():
    np.testing.assert_allclose(np.asarray(tg.hamming_window(7, False, 0.5, 0.5)),
                               torch.hamming_window(7, False, 0.5, 0.5).numpy(), atol=1e-6)
    np.testing.assert_allclose(np.asarray(tg.kaiser_window(6, True, 5.0)), torch.kaiser_window(6, True, 5.0).numpy(),
                               atol=1e-6)
    for m in (tg, torch):
        with pytest.raises(RuntimeError, match="requires non-negative window_length, got window_length=-1"):
            m.hann_window(-1)
        with pytest.raises(RuntimeError, match="floating point"):
            m.hann_window(4, dtype=m.int64)


# ------------------------------------------------------------------------------------------- queries
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8", "uint8", "bool"])
def test_queries(dtype):
    x, t = tg.zeros(2, 3, dtype=getattr(tg, dtype)), torch.zeros(2, 3, dtype=getattr(torch, dtype))
    for q in ("is_signed", "is_complex"):
        assert getattr(x, q)() == getattr(t, q)() == getattr(tg, q)(x) == getattr(torch, q)(t)
    assert x.is_cpu == t.is_cpu and x.itemsize == t.itemsize
    for q in ("is_meta", "is_xpu", "is_mps", "is_quantized", "is_nested", "is_sparse_csr", "is_mkldnn"):
        assert getattr(x, q) == getattr(t, q) is False
    assert x.is_same_size(tg.ones(2, 3)) and not tg.is_same_size(x, tg.ones(3, 2))
    assert tg.typename(x) == torch.typename(t) and tg.typename(3) == torch.typename(3) == "int"


def test_dim_order_mh_retains_grad():
    a = RNG.standard_normal((2, 3, 4))
    x, t = _both(a)
    for f in (lambda v: v, lambda v: v.transpose(0, 2), lambda v: v.permute(1, 0, 2)):
        assert f(x).dim_order() == f(t).dim_order()
    _eq(x.mH, t.mH)
    for m in (tg, torch):
        w = m.ones(3, requires_grad=True)
        y, z = w * 2, w * 3
        y.retain_grad()
        assert y.retains_grad and not z.retains_grad and not w.retains_grad


# ------------------------------------------------------------------------------------------- in-place forms
@pytest.mark.parametrize("name", ["eq_", "ne_", "lt_", "le_", "gt_", "ge_"])
def test_inplace_comparisons(name):
    a = RNG.integers(0, 3, (3, 4)).astype(np.float32)
    b = RNG.integers(0, 3, (4,)).astype(np.float32)
    x, t = _both(a)
    getattr(x, name)(tg.tensor(b))
    getattr(t, name)(torch.tensor(b))
    _eq(x, t, exact=True)
    x, t = _both(a)
    _eq(getattr(x, name)(1), getattr(t, name)(1), exact=True)


@pytest.mark.parametrize("name", ["logical_and_", "logical_or_", "logical_xor_", "logical_not_"])
def test_inplace_logical(name):
    a, b = RNG.integers(0, 2, (3, 4)).astype(np.float64), RNG.integers(0, 2, (4,)).astype(np.float64)
    x, t = _both(a)
    args = () if name == "logical_not_" else (b,)
    getattr(x, name)(*(tg.tensor(v) for v in args))
    getattr(t, name)(*(torch.tensor(v) for v in args))
    _eq(x, t, exact=True)


@pytest.mark.parametrize("call", [lambda v: v.cumsum_(1), lambda v: v.cumprod_(0), lambda v: v.clip_(-0.5, 0.5),
                                  lambda v: v.exp2_()])
def test_inplace_unary_with_grad(call):
    # through a non-leaf under autograd, as torch records them
    check_op(lambda a: call(a * 1.0) * 2, inputs=[(3, 4)])


def test_floor_divide_inplace():
    a = RNG.standard_normal((3, 4))
    x, t = _both(a)
    _eq(x.floor_divide_(0.3), t.floor_divide_(0.3))


@pytest.mark.parametrize("name,shapes", [("addmm_", [(2, 4), (2, 3), (3, 4)]), ("addbmm_", [(2, 4), (5, 2, 3), (5, 3, 4)]),
                                         ("baddbmm_", [(5, 2, 4), (5, 2, 3), (5, 3, 4)]), ("addr_", [(2, 3), (2,), (3,)]),
                                         ("addmv_", [(2,), (2, 3), (3,)])])
def test_inplace_blas(name, shapes):
    check_op(lambda s, a, b: getattr(s * 1.0, name)(a, b, beta=0.5, alpha=2.0), inputs=shapes)


# ------------------------------------------------------------------------------------------- legacy methods
def test_new():
    x, t = tg.ones(2, 3, dtype=tg.float64), torch.ones(2, 3, dtype=torch.float64)
    for args in ((2,), (2, 3), ([1, 2],), ((2, 3),), (torch.Size([2, 4]),)):
        ours = x.new(*(tg.Size(a) if isinstance(a, torch.Size) else a for a in args))
        theirs = t.new(*args)
        assert tuple(ours.shape) == tuple(theirs.shape) and str(ours.dtype) == "float64"
        if args and isinstance(args[0], (list, tuple)) and not isinstance(args[0], torch.Size):
            _eq(ours, theirs)
    assert tuple(x.new().shape) == tuple(t.new().shape) == (0,)
    alias = x.new(x)
    alias[0, 0] = 5
    assert float(x[0, 0]) == 5


def test_resize():
    for m in (tg, torch):
        v = m.arange(6.0).reshape(2, 3)
        v.resize_(4)
        assert tuple(v.shape) == (4,) and v.tolist() == [0.0, 1.0, 2.0, 3.0]
        v.resize_(2, 2)
        assert v.tolist() == [[0.0, 1.0], [2.0, 3.0]]
        v.resize_(3, 3)
        assert tuple(v.shape) == (3, 3) and v.reshape(-1)[:4].tolist() == [0.0, 1.0, 2.0, 3.0]
        v.resize_as_(m.ones(5))
        assert tuple(v.shape) == (5,)
        with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
            m.ones(2, requires_grad=True).resize_(3)


def _child_adds(x):
    x.add_(1)


def test_share_memory_is_seen_by_a_forked_process():
    x = tg.zeros(4)
    assert not x.is_shared()
    assert x.share_memory_() is x and x.is_shared()
    p = multiprocessing.get_context("fork").Process(target=_child_adds, args=(x,))
    p.start()
    p.join(30)
    assert p.exitcode == 0 and x.tolist() == [1.0, 1.0, 1.0, 1.0]
    y = tg.zeros(4)  # not shared: the child's write stays in the child
    p = multiprocessing.get_context("fork").Process(target=_child_adds, args=(y,))
    p.start()
    p.join(30)
    assert y.tolist() == [0.0] * 4


def test_apply_and_map():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((3,))
    for m in (tg, torch):
        v = m.tensor(a)
        v.apply_(lambda e: e * 2 + 1)
        np.testing.assert_allclose(np.asarray(v.tolist()), a * 2 + 1)
        v.map_(m.tensor(b), lambda p, q: p - q)
        np.testing.assert_allclose(np.asarray(v.tolist()), a * 2 + 1 - b)
        with pytest.raises(RuntimeError):
            m.ones(2, requires_grad=True).apply_(lambda e: e)


# ------------------------------------------------------------------------------------------- settings
def test_threads_round_trip():
    before = tg.get_num_threads()
    try:
        tg.set_num_threads(1)
        assert tg.get_num_threads() == 1
    finally:
        tg.set_num_threads(before)
    with pytest.raises(RuntimeError):
        tg.set_num_threads(0)
    tg.set_num_interop_threads(3)
    assert tg.get_num_interop_threads() == 3


def test_deterministic_flags_as_torch():
    try:
        for args, kw in (((True,), {}), ((True,), {"warn_only": True}), ((False,), {})):
            tg.use_deterministic_algorithms(*args, **kw)
            torch.use_deterministic_algorithms(*args, **kw)
            assert tg.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()
            assert (tg.is_deterministic_algorithms_warn_only_enabled()
                    == torch.is_deterministic_algorithms_warn_only_enabled())
            assert tg.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
        for mode in ("default", "warn", "error", 0, 1, 2):
            tg.set_deterministic_debug_mode(mode)
            torch.set_deterministic_debug_mode(mode)
            assert tg.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
    finally:
        tg.use_deterministic_algorithms(False)
        torch.use_deterministic_algorithms(False)


def test_deterministic_alert():
    from tensorgrad.backend import determinism
    determinism.alert("x")  # off: nothing
    try:
        tg.use_deterministic_algorithms(True)
        with pytest.raises(RuntimeError, match="x does not have a deterministic implementation"):
            determinism.alert("x")
        tg.use_deterministic_algorithms(True, warn_only=True)
        with pytest.warns(UserWarning, match="deterministic"):
            determinism.alert("x")
        # every CPU op is deterministic: a scatter-add with repeated indices runs, twice the same
        idx = tg.tensor(RNG.integers(0, 3, 50))
        src = tg.tensor(RNG.standard_normal(50))
        r1 = tg.zeros(3, dtype=tg.float64).index_add(0, idx, src)
        r2 = tg.zeros(3, dtype=tg.float64).index_add(0, idx, src)
        assert r1.tolist() == r2.tolist()
    finally:
        tg.use_deterministic_algorithms(False)


def test_default_device():
    assert tg.get_default_device() == tg.device("cpu") and str(torch.get_default_device()) == "cpu"
    with tg.device("cpu"):
        assert tg.zeros(1).device == tg.device("cpu")
    tg.set_default_device("cpu")
    tg.set_default_device(None)
    assert tg.get_default_device() == tg.device("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not tg.cuda_available(), reason="needs a CUDA device and CuPy")
def test_default_device_cuda():
    with tg.device("cuda"):
        assert tg.zeros(2).device.type == "cuda" and tg.nn.Linear(2, 2).weight.device.type == "cuda"
    assert tg.zeros(2).device.type == "cpu"
    try:
        tg.set_default_device("cuda")
        assert tg.randn(3).device.type == "cuda" and tg.from_numpy(np.ones(2)).device.type == "cpu"
    finally:
        tg.set_default_device(None)


# ------------------------------------------------------------------------------------------- jit, Variable
def test_jit_decorators_run_eagerly():
    from tensorgrad import jit

    @jit.script
    def f(x):
        return x * 2 + 1

    @jit.ignore
    def g(x):
        return x

    m = tg.nn.Linear(3, 2)
    assert jit.script(m) is m and jit.trace(m, tg.ones(1, 3)) is m and not jit.is_scripting()
    assert f(tg.ones(2)).tolist() == [3.0, 3.0] and g(1) == 1 and jit.ignore(drop=True)(g) is g
    assert jit.wait(jit.fork(f, tg.zeros(1))).tolist() == [1.0]
    assert not isinstance(m, jit.ScriptModule)
    with pytest.raises(RuntimeError, match="no TorchScript"):
        jit.save(m, "x.pt")


def test_variable_as_torch():
    from tensorgrad.autograd import Variable
    from torch.autograd import Variable as TV
    for V, m in ((Variable, tg), (TV, torch)):
        t = m.ones(2)
        v = V(t, requires_grad=True)
        assert v.requires_grad and not t.requires_grad and v.is_leaf and isinstance(t, V)
        w = m.ones(2, requires_grad=True) * 2
        u = V(w)
        assert not u.requires_grad and u.grad_fn is None
        with pytest.warns(UserWarning, match="volatile"):
            V(t, volatile=True)
        with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
            V([1, 2])
        assert tuple(V().shape) == (0,)


# ------------------------------------------------------------------------------------------- torch.* functionals
@pytest.mark.parametrize("call,shapes", [
    (lambda m, x, w: m.conv2d(x, w, None, 1, 1), [(2, 3, 5, 5), (4, 3, 3, 3)]),
    (lambda m, x, w: m.conv1d(x, w, stride=2), [(2, 3, 9), (4, 3, 3)]),
    (lambda m, x, w: m.conv_transpose2d(x, w, stride=2), [(1, 2, 3, 3), (2, 3, 2, 2)]),
    (lambda m, x: m.pixel_shuffle(x, 2), [(1, 8, 2, 3)]),
    (lambda m, x: m.selu(x) + m.celu(x) + m.hardshrink(x, 0.3), [(3, 4)]),
    (lambda m, x: m.max_pool2d(x, 2), [(1, 2, 4, 4)]),
    (lambda m, x: m.avg_pool1d(x, 3), [(1, 2, 9)]),
    (lambda m, x: m.adaptive_avg_pool1d(x, 2), [(1, 2, 9)]),
    (lambda m, x, w, b: m.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    (lambda m, x, w, b: m.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
    (lambda m, x: m.dropout(x, 0.5, False), [(3, 4)]),
    (lambda m, x: m.threshold(x, 0.1, -1.0), [(3, 4)]),
])
def test_top_level_functionals(call, shapes):
    check_op(lambda *xs: call(lib(xs[0]), *xs), inputs=shapes)


def test_top_level_inplace_functionals():
    a = RNG.standard_normal((3, 4))
    for name in ("relu_", "selu_", "celu_"):
        x, t = _both(a.copy())
        getattr(tg, name)(x)
        getattr(torch, name)(t)
        _eq(x, t)
    assert F(tg.ones(1)) is tg.nn.functional


def test_func_functional_call_as_torch():
    import torch.func
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    w, b = RNG.standard_normal((2, 4)).astype(np.float32), RNG.standard_normal(2).astype(np.float32)
    outs = []
    for m, fc in ((tg, tg.func.functional_call), (torch, torch.func.functional_call)):
        lin = m.nn.Linear(4, 2)
        params = {"weight": m.tensor(w, requires_grad=True)}
        out = fc(lin, (params, {"bias": m.tensor(b)}), (m.tensor(a),))
        out.square().sum().backward()
        outs.append((out.detach().numpy(), params["weight"].grad.numpy(), lin.weight.grad))
        with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
            fc(lin, (params, params), (m.tensor(a),))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5)
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-5)
    assert outs[0][2] is None and outs[1][2] is None  # the module's own weight was not used


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_factories_take_size_keyword(fn):
    for size in ((2, 3), [4], (), tg.Size([1, 2])):
        a = getattr(tg, fn)(size=size)
        b = getattr(torch, fn)(size=tuple(size))
        assert tuple(a.shape) == tuple(b.shape)
    for m in (tg, torch):
        with pytest.raises(TypeError, match="argument 'size' must be tuple of ints, not int"):
            getattr(m, fn)(size=5)
    with pytest.raises(TypeError):
        getattr(tg, fn)(2, size=(3,))


def test_no_numpy_float_warnings_from_ops():
    # torch computes inf and nan silently; tensorgrad's ops must not add NumPy's RuntimeWarnings to a script's
    # output, while the user's own NumPy calls still warn (a fresh interpreter: pytest rewrites warning filters)
    code = ("import tensorgrad as tg, numpy as np\n"
            "x = tg.tensor([0.0, 1.0, -1.0])\n"
            "(1 / x, x / x, x.log(), x.sqrt(), tg.tensor([1e30]) * 1e30)\n"
            "try:\n    np.array([0.0]) / 0\nexcept RuntimeWarning:\n    print('user numpy warns')\n")
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(tg.__file__)))
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0 and r.stdout == "user numpy warns\n", r.stderr


@pytest.mark.parametrize("mode", [None, "floor", "trunc"])
def test_div_rounding_mode(mode):
    a, b = RNG.standard_normal((3, 4)) * 5, RNG.standard_normal((4,))
    x, t = _both(a)
    _eq(tg.div(x, tg.tensor(b), rounding_mode=mode), torch.div(t, torch.tensor(b), rounding_mode=mode))
    _eq(x.div(2, rounding_mode=mode), t.div(2, rounding_mode=mode))
    _eq(x.clone().div_(3, rounding_mode=mode), t.clone().div_(3, rounding_mode=mode))
    xi, ti = _both(np.array([7, -7, 3]))
    _eq(xi.div(2, rounding_mode=mode), ti.div(2, rounding_mode=mode), exact=True)
    if mode is None:
        check_op(lambda u, v: u.div(v.abs() + 0.5, rounding_mode=None), inputs=[(3,), (3,)])


def test_range_as_an_index():
    a = RNG.standard_normal((4, 5))
    for idx in ((range(4), [0, 1, 2, 3]), (range(1, 3),), (slice(None), range(0, 5, 2)), (range(3, 0, -1),)):
        x, t = _both(a.copy())
        _eq(x[idx], t[idx])
        x[idx] = 7.0
        t[idx] = 7.0
        _eq(x, t)
    check_op(lambda v: v[range(3), [0, 2, 1]] * 2, inputs=[(3, 4)])


def test_set_num_threads_under_the_alias(tmp_path):
    # under the alias torch.set_num_threads is tensorgrad's, which also sets real torch's pools when torch is loaded:
    # it must not call itself (a DataLoader worker calls torch.set_num_threads(1))
    import os
    import subprocess
    import sys
    code = ("import tensorgrad.compat as c; c.install(); import torch; n = torch.get_num_threads(); "
            "torch.set_num_threads(1); print(torch.get_num_threads())")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(tg.__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr[-2000:]
