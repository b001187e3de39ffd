"""torch.linalg (tensorgrad/ops/linalg_*.py) at its edges, against PyTorch: the errors (LinAlgError for singular and
non-positive-definite matrices, wrong dtypes and shapes), the _ex variants' info, size-0 inputs, gradients at singular
matrices and repeated spectra (finite where torch's are), the non-differentiable QR modes, and the result types."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import raises


def both(a, requires_grad=False):
    return tg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def test_linalg_error_is_a_runtime_error_and_names_the_batch_element():
    assert issubclass(tg.linalg.LinAlgError, RuntimeError)
    sing = np.stack([np.eye(2), np.ones((2, 2))])
    with raises(tg.linalg.LinAlgError, "linalg.inv", r"Batch element 1", "singular"):
        tg.linalg.inv(tg.tensor(sing))
    with raises(tg.linalg.LinAlgError, "inverse", "singular"):
        tg.tensor(np.ones((3, 3))).inverse()
    with raises(tg.linalg.LinAlgError, "linalg.solve", "singular"):
        tg.linalg.solve(tg.tensor(np.ones((2, 2))), tg.tensor(np.ones(2)))
    with raises(tg.linalg.LinAlgError, "linalg.cholesky", r"Batch element 1", "order 2", "positive-definite"):
        tg.linalg.cholesky(tg.tensor(np.stack([np.eye(3), np.diag([1.0, -1.0, 2.0])])))
    with pytest.raises(torch.linalg.LinAlgError):  # (what torch does with the same inputs)
        torch.linalg.cholesky(torch.tensor(np.diag([1.0, -1.0, 2.0])))


@pytest.mark.parametrize("fn", [
    lambda a: tg.linalg.inv(a), lambda a: tg.linalg.det(a), lambda a: tg.linalg.slogdet(a),
    lambda a: tg.linalg.cholesky(a), lambda a: tg.linalg.eigh(a), lambda a: tg.linalg.svd(a),
    lambda a: tg.linalg.qr(a), lambda a: tg.linalg.pinv(a), lambda a: tg.linalg.matrix_exp(a),
    lambda a: tg.linalg.matrix_power(a, -1), lambda a: tg.linalg.solve(a, a), lambda a: tg.linalg.matrix_norm(a, 2)])
def test_integer_and_half_inputs_are_refused(fn):
    with raises(RuntimeError, "floating point", "int64"):
        fn(tg.ones(3, 3, dtype=tg.int64))
    with raises(RuntimeError, "Low precision", "float16"):
        fn(tg.ones(3, 3, dtype=tg.float16))


def test_shape_and_argument_errors():
    with raises(RuntimeError, "linalg.inv", "square", "2 by 3"):
        tg.linalg.inv(tg.ones(2, 3))
    with raises(RuntimeError, "linalg.det", "at least 2 dimensions"):
        tg.linalg.det(tg.ones(3))
    with raises(RuntimeError, "linalg.solve", "Incompatible shapes"):
        tg.linalg.solve(tg.eye(3), tg.ones(4))
    with raises(RuntimeError, "linalg.solve", "same dtype"):
        tg.linalg.solve(tg.eye(3), tg.ones(3, dtype=tg.float64))
    with raises(RuntimeError, "cannot be broadcast"):
        tg.linalg.solve(tg.eye(3).expand(2, 3, 3), tg.ones(3, 3, 1))
    with raises(RuntimeError, "solve_triangular", "at least 2 dimensions"):
        tg.linalg.solve_triangular(tg.eye(3), tg.ones(3), upper=True)
    with raises(RuntimeError, "UPLO"):
        tg.linalg.eigh(tg.eye(3), UPLO="X")
    with raises(RuntimeError, "qr", "mode"):
        tg.linalg.qr(tg.eye(3), mode="full")
    with raises(RuntimeError, "matrix_norm", "Order 3"):
        tg.linalg.matrix_norm(tg.eye(3), 3)
    with raises(RuntimeError, "matrix_norm", "at least 2"):
        tg.linalg.matrix_norm(tg.ones(3))
    with raises(RuntimeError, "1D or 2D"):
        tg.linalg.norm(tg.ones(2, 3, 4), 2)
    with raises(RuntimeError, "linalg.cross", "length 3"):
        tg.linalg.cross(tg.ones(3, 4), tg.ones(3, 4))
    with raises(RuntimeError, "multi_dot", "at least 2"):
        tg.linalg.multi_dot([tg.ones(3, 3)])
    with raises(RuntimeError, "lstsq", "driver"):
        tg.linalg.lstsq(tg.ones(5, 3), tg.ones(5, 2), driver="foo")
    with raises(RuntimeError, "lstsq", "size"):
        tg.linalg.lstsq(tg.ones(5, 3), tg.ones(4, 2))
    with raises(RuntimeError, "cond", "square"):
        tg.linalg.cond(tg.ones(3, 4), 1)
    with raises(TypeError, "matrix_power", "int"):
        tg.linalg.matrix_power(tg.eye(3), 1.5)


def test_ex_variants_report_info_as_torch():
    sing = np.stack([np.eye(2), np.ones((2, 2))])
    for tg_fn, th_fn in [(lambda a: tg.linalg.inv_ex(a), lambda a: torch.linalg.inv_ex(a)),
                         (lambda a: tg.linalg.solve_ex(a, a), lambda a: torch.linalg.solve_ex(a, a))]:
        o, t = tg_fn(tg.tensor(sing)), th_fn(torch.tensor(sing))
        np.testing.assert_array_equal(o[1].numpy(), t[1].numpy())
        assert o[1].dtype == tg.int32
        np.testing.assert_allclose(o[0].numpy()[0], t[0].numpy()[0])
        assert not np.isfinite(o[0].numpy()[1]).all()
    notpd = np.stack([np.eye(3), np.diag([1.0, -1.0, 2.0]), [[2.0, 1, 0], [1, 2, 0], [0, 0, -3]]])
    o, t = tg.linalg.cholesky_ex(tg.tensor(notpd)), torch.linalg.cholesky_ex(torch.tensor(notpd))
    assert type(o).__name__ == "linalg_cholesky_ex" and o._fields == ("L", "info")
    np.testing.assert_array_equal(o.info.numpy(), t.info.numpy())
    np.testing.assert_allclose(o.L.numpy(), t.L.numpy())
    with raises(tg.linalg.LinAlgError, "cholesky_ex"):
        tg.linalg.cholesky_ex(tg.tensor(notpd), check_errors=True)
    with raises(tg.linalg.LinAlgError, "inv_ex"):
        tg.linalg.inv_ex(tg.tensor(sing), check_errors=True)


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3, 3)])
def test_size_zero(shape):
    a, t = both(np.zeros(shape))
    for f in (lambda x: x.inverse(), lambda x: torch_or_tg(x).linalg.det(x), lambda x: torch_or_tg(x).linalg.slogdet(x),
              lambda x: torch_or_tg(x).linalg.eigh(x), lambda x: torch_or_tg(x).linalg.svd(x),
              lambda x: torch_or_tg(x).linalg.qr(x), lambda x: torch_or_tg(x).linalg.cholesky(x),
              lambda x: torch_or_tg(x).linalg.matrix_exp(x), lambda x: torch_or_tg(x).linalg.pinv(x)):
        ours, theirs = f(a), f(t)
        ours, theirs = (ours, theirs) if isinstance(theirs, tuple) else ((ours,), (theirs,))
        for o, h in zip(ours, theirs):
            assert tuple(o.shape) == tuple(h.shape), (o.shape, h.shape)
            np.testing.assert_allclose(o.numpy(), h.detach().numpy())


def test_size_zero_rectangular_svd_and_qr():
    a, t = both(np.zeros((0, 3)))
    for o, h in zip(tg.linalg.svd(a), torch.linalg.svd(t)):
        assert tuple(o.shape) == tuple(h.shape)
    for o, h in zip(tg.linalg.qr(a), torch.linalg.qr(t)):
        assert tuple(o.shape) == tuple(h.shape)


def torch_or_tg(x):
    return torch if isinstance(x, torch.Tensor) else tg


def _grads(fn, a):
    x, y = both(a, requires_grad=True)
    fn(tg, x).backward()
    fn(torch, y).backward()
    return x.grad.numpy(), y.grad.numpy()


@pytest.mark.parametrize("a", [
    [[1.0, 2, 3], [2, 4, 6], [1, 0, 1]],  # rank 2: the cofactor matrix is not zero
    [[1.0, 2, 3], [2, 4, 6], [3, 6, 9]],  # rank 1: it is
    [[0.0, 0], [0, 0]]])
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(a):
    # d det(A) / dA = cofactor(A), zero only where rank(A) <= n - 2. torch 2.13 computes it through an LU whose
    # exactly-zero pivot depends on the CPU: on an AMD EPYC its gradient at the rank-2 matrix is 0, on Intel Xeons
    # the cofactors; the definition (and a finite difference) is the oracle here
    a = np.array(a)
    n = a.shape[0]
    cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) if n > 1 else 1.0
                     for j in range(n)] for i in range(n)])
    x = tg.tensor(a, requires_grad=True)
    tg.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), cof, atol=1e-12)
    eps = 1e-6
    fd = np.array([[(np.linalg.det(a + eps * np.eye(n)[i][:, None] * np.eye(n)[j][None, :])
                     - np.linalg.det(a - eps * np.eye(n)[i][:, None] * np.eye(n)[j][None, :])) / (2 * eps)
                    for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(cof, fd, atol=1e-6)


def test_gradients_on_repeated_spectra_are_finite_where_torchs_are():
    eye = np.eye(3)
    for fn in (lambda lib, x: lib.linalg.eigvalsh(x).sum(), lambda lib, x: lib.linalg.svdvals(x).sum(),
               lambda lib, x: lib.linalg.matrix_norm(x, "nuc"), lambda lib, x: lib.linalg.eigh(x)[0].pow(2).sum(),
               lambda lib, x: lib.linalg.svd(x)[1].sum(), lambda lib, x: lib.linalg.matrix_norm(x, 2)):
        ours, theirs = _grads(fn, eye * 2)
        assert np.isfinite(ours).all()
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_logdet_of_a_negative_determinant_is_nan_with_zero_gradient():
    a = np.diag([-1.0, 2.0, 3.0])
    x, y = both(a, requires_grad=True)
    o, t = tg.logdet(x), torch.logdet(y)
    assert math.isnan(o.item()) and math.isnan(t.item())
    o.backward()
    t.backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.grad.numpy())


def test_qr_modes_without_a_gradient():
    x = tg.randn(4, 3, dtype=tg.float64, requires_grad=True)
    Q, R = tg.linalg.qr(x, mode="r")
    assert tuple(Q.shape) == (0,) and tuple(R.shape) == (3, 3)
    with raises(RuntimeError, "mode='r'"):
        R.sum().backward()
    Q, R = tg.linalg.qr(x, mode="complete")
    assert tuple(Q.shape) == (4, 4)
    with raises(RuntimeError, "complete", "nrows > ncols"):
        (Q.sum() + R.sum()).backward()


def test_cond_of_a_singular_matrix_is_inf():
    a = np.ones((2, 3, 3))
    a[0] = np.eye(3)
    for p in (1, "fro", math.inf, None):
        o, t = tg.linalg.cond(tg.tensor(a), p), torch.linalg.cond(torch.tensor(a), p)
        assert o.numpy()[1] > 1e15 and t.numpy()[1] > 1e15
        np.testing.assert_allclose(o.numpy()[0], t.numpy()[0])


def test_result_types_and_legacy_spellings():
    a = np.random.default_rng(0).standard_normal((4, 3))
    x, y = both(a)
    assert tg.linalg.svd(x)._fields == ("U", "S", "Vh") and type(tg.linalg.svd(x)).__name__ == "linalg_svd"
    assert tg.svd(x)._fields == ("U", "S", "V") and type(tg.svd(x)).__name__ == "svd"
    assert tg.linalg.qr(x)._fields == ("Q", "R") and type(tg.qr(x)).__name__ == "qr"
    assert tg.linalg.eigh(x[:3])._fields == ("eigenvalues", "eigenvectors")
    assert tg.linalg.slogdet(x[:3])._fields == ("sign", "logabsdet") and type(tg.slogdet(x[:3])).__name__ == "slogdet"
    assert tg.linalg.lstsq(x, x)._fields == ("solution", "residuals", "rank", "singular_values")
    assert type(tg.linalg.solve_ex(x[:3], x[:3])).__name__ == "linalg_solve_ex"
    assert tg.triangular_solve(x[:3], x[:3])._fields == ("solution", "cloned_coefficient")
    U, S, V = tg.svd(x, compute_uv=False)
    Ut, St, Vt = torch.svd(y, compute_uv=False)
    assert tuple(U.shape) == tuple(Ut.shape) and tuple(V.shape) == tuple(Vt.shape) and not U.numpy().any()
    np.testing.assert_allclose(S.numpy(), St.numpy())
    U, S, V = tg.svd(x, some=False)
    assert tuple(U.shape) == (4, 4) and tuple(V.shape) == (3, 3)
    assert tg.linalg.LinAlgError is tg.linalg.LinAlgError and issubclass(tg.linalg.LinAlgError, RuntimeError)
