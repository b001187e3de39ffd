"""torch.linalg on complex input against torch: inv, solve, det, slogdet / logdet, matrix_exp, matrix_power, cholesky
(Hermitian, and a raw input whose gradient torch does not make Hermitian), cholesky_solve / cholesky_inverse, pinv,
lstsq, svd / svdvals and the norms, cond and matrix_rank built on them, qr, eigh / eigvalsh, eig / eigvals (also of
real input), vecdot. Forward and every gradient in complex64 and complex128 (test_complex.py's way: z = complex(a, b)
of real inputs, real outputs), gradcheck and gradgradcheck in float64."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, make_inputs, lib, raises
from test_complex import Z, R


def L(x):
    return lib(x).linalg


def herm(a, b, n):
    """A Hermitian positive-definite matrix from real a, b of shape (..., n, n)."""
    z = Z(a, b)
    return z @ z.mH + 3 * lib(a).eye(n)


def H(a, b):
    """A Hermitian matrix: eigh reads one triangle, and its gradient (torch's) is the Hermitian one."""
    return Z(a, b) + Z(a, b).mH


def usv(out):
    """A gauge-invariant function of svd's factors (the phase of each singular pair is free): |U|, S, |Vh|, U S Vh."""
    U, S, Vh = out
    return [U.abs(), S, Vh.abs(), R((U * S.unsqueeze(-2).to(U.dtype)) @ Vh)]


SQ = [(2, 3, 3), (2, 3, 3), (1,), (1,)]
CASES = {
    "inv": (lambda a, b, c, d: R(L(a).inv(Z(a, b))), SQ),
    "inv_ex": (lambda a, b, c, d: R(L(a).inv_ex(Z(a, b)).inverse), [(3, 3), (3, 3), (1,), (1,)]),
    "solve": (lambda a, b, c, d: R(L(a).solve(Z(a, b), Z(c, d))), [(2, 3, 3), (2, 3, 3), (3, 2), (3, 2)]),
    "solve_vector": (lambda a, b, c, d: R(L(a).solve(Z(a, b), Z(c, d))), [(3, 3), (3, 3), (3,), (3,)]),
    "solve_right": (lambda a, b, c, d: R(L(a).solve(Z(a, b), Z(c, d), left=False)), [(3, 3), (3, 3), (2, 3), (2, 3)]),
    "det": (lambda a, b, c, d: R(L(a).det(Z(a, b))), SQ),
    "slogdet": (lambda a, b, c, d: [R(x) for x in L(a).slogdet(Z(a, b))], SQ),
    "logdet": (lambda a, b, c, d: R(lib(a).logdet(Z(a, b))), SQ),
    "matrix_exp": (lambda a, b, c, d: R(L(a).matrix_exp(Z(a, b) * 0.5)), SQ),
    "matrix_power": (lambda a, b, c, d: R(L(a).matrix_power(Z(a, b), -2) + L(a).matrix_power(Z(a, b), 3)), SQ),
    "cholesky": (lambda a, b, c, d: R(L(a).cholesky(herm(a, b, 3))), SQ),
    "cholesky_upper": (lambda a, b, c, d: R(L(a).cholesky(herm(a, b, 3), upper=True)), SQ),
    "cholesky_raw": (lambda a, b, c, d: R(L(a).cholesky(herm(a, b, 3) + lib(a).tril(Z(c, d)) * 0.2)),
                     [(3, 3), (3, 3), (3, 3), (3, 3)]),
    "svdvals": (lambda a, b, c, d: L(a).svdvals(Z(a, b)), [(2, 4, 3), (2, 4, 3), (1,), (1,)]),
    "svd_tall": (lambda a, b, c, d: usv(L(a).svd(Z(a, b), full_matrices=False)), [(4, 2), (4, 2), (1,), (1,)]),
    "svd_wide": (lambda a, b, c, d: usv(L(a).svd(Z(a, b), full_matrices=False)), [(2, 2, 4), (2, 2, 4), (1,), (1,)]),
    "svd_legacy": (lambda a, b, c, d: (lambda U, S, V: [R(U @ V.mH), S])(*lib(a).svd(Z(a, b))),
                   [(3, 3), (3, 3), (1,), (1,)]),
    "matrix_norm_svd": (lambda a, b, c, d: L(a).matrix_norm(Z(a, b), "nuc") + L(a).matrix_norm(Z(a, b), 2)
                        + L(a).matrix_norm(Z(a, b), -2), [(2, 3, 4), (2, 3, 4), (1,), (1,)]),
    "cond": (lambda a, b, c, d: L(a).cond(Z(a, b)), SQ),
    "qr": (lambda a, b, c, d: [R(x) for x in L(a).qr(Z(a, b))], [(2, 3, 3), (2, 3, 3), (1,), (1,)]),
    "qr_tall": (lambda a, b, c, d: [R(x) for x in L(a).qr(Z(a, b))], [(4, 2), (4, 2), (1,), (1,)]),
    "qr_wide_complete": (lambda a, b, c, d: [R(x) for x in L(a).qr(Z(a, b), "complete")], [(2, 4), (2, 4), (1,), (1,)]),
    "eigvalsh": (lambda a, b, c, d: L(a).eigvalsh(H(a, b)) + L(a).eigvalsh(H(a, b), UPLO="U"), SQ),
    "eigh": (lambda a, b, c, d: (lambda w, V: [w, V.abs(), R(V[..., :1] @ V[..., :1].mH)])(*L(a).eigh(H(a, b))), SQ),
    "cholesky_solve": (lambda a, b, c, d: R(lib(a).cholesky_solve(Z(c, d), L(a).cholesky(herm(a, b, 3)))
                                            + lib(a).cholesky_solve(Z(c, d), L(a).cholesky(herm(a, b, 3), upper=True),
                                                                    upper=True)), [(2, 3, 3), (2, 3, 3), (3, 2), (3, 2)]),
    "cholesky_inverse": (lambda a, b, c, d: R(lib(a).cholesky_inverse(L(a).cholesky(herm(a, b, 3)))), SQ),
    "vecdot": (lambda a, b, c, d: R(L(a).vecdot(Z(a, b), Z(c, d), dim=0)), [(3, 2), (3, 2), (3, 1), (3, 1)]),
    "eigvals": (lambda a, b, c, d: R(L(a).eigvals(Z(a, b))), SQ),
    "eig": (lambda a, b, c, d: (lambda w, V: [R(w), V.abs(), R(V[..., :1] @ V[..., :1].mH)])(*L(a).eig(Z(a, b))), SQ),
    "eig_real_input": (lambda a, b, c, d: (lambda w, V: [R(w), V.abs(), R(V[..., 1:] @ V[..., 1:].mH)])(*L(a).eig(a)),
                       [(2, 4, 4), (1,), (1,), (1,)]),
    "pinv": (lambda a, b, c, d: R(L(a).pinv(Z(a, b))), [(2, 3, 5), (2, 3, 5), (1,), (1,)]),
    "pinv_tall_hermitian": (lambda a, b, c, d: R(L(a).pinv(Z(a, b)) + lib(a).pinverse(Z(a, b))
                                                 + L(a).pinv(herm(c, d, 4), hermitian=True)[:3, :4]),
                            [(4, 3), (4, 3), (4, 4), (4, 4)]),
    "lstsq": (lambda a, b, c, d: (lambda o: [R(o.solution), o.residuals])(L(a).lstsq(Z(a, b), Z(c, d), driver="gelsd")),
              [(2, 5, 3), (2, 5, 3), (2, 5, 2), (2, 5, 2)]),
    "lstsq_vector": (lambda a, b, c, d: R(L(a).lstsq(Z(a, b), Z(c, d)).solution), [(3, 3), (3, 3), (3,), (3,)]),
    "inv_empty": (lambda a, b, c, d: L(a).inv(Z(a, b)).abs(), [(0, 3, 3), (0, 3, 3), (1,), (1,)]),
    "det_empty": (lambda a, b, c, d: L(a).det(Z(a, b)).abs(), [(2, 0, 0), (2, 0, 0), (1,), (1,)]),
    "solve_triangular": (lambda a, b, c, d: R(L(a).solve_triangular(lib(a).triu(Z(a, b)) + 3 * lib(a).eye(3),
                                                                  Z(c, d), upper=True)), [(3, 3), (3, 3), (3, 2), (3, 2)]),
}
F32 = dict(atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_grad_vs_torch(name, dtype):
    f, specs = CASES[name]
    check_op(f, inputs=specs, dtype=dtype, **(F32 if dtype == np.float32 else {}))


# cholesky of a matrix that is not Hermitian: torch's gradient is a convention there, not the derivative of reading
# one triangle (compared with torch above only)
@pytest.mark.parametrize("name", sorted(set(CASES) - {"cholesky_raw"}))
def test_gradcheck(name):
    f, specs = CASES[name]
    gradcheck_op(f, specs)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"cholesky_raw"}))
def test_gradgradcheck(name):
    f, specs = CASES[name]
    data, diff = make_inputs(specs, np.float64, seed=3)
    gradgradcheck_op(f, [tg.tensor(x, requires_grad=d) for x, d in zip(data, diff)])


def test_complex_leaf_grads_match_torch():
    """A complex leaf's .grad through the complex factorizations equals torch's (dtype complex128)."""
    rng = np.random.default_rng(1)
    z0 = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    losses = [lambda m, z: m.linalg.det(z).abs(), lambda m, z: m.linalg.slogdet(z)[1] + m.linalg.slogdet(z)[0].real,
              lambda m, z: m.view_as_real(m.linalg.inv(z)).sum(), lambda m, z: m.linalg.svdvals(z).sum(),
              lambda m, z: m.linalg.cholesky(z @ z.mH + m.eye(3)).abs().sum(),
              lambda m, z: m.linalg.qr(z)[1].abs().sum(), lambda m, z: m.linalg.eigvalsh(z).pow(2).sum(),
              lambda m, z: m.view_as_real(m.linalg.matrix_exp(z)).sum()]
    for loss in losses:
        grads = []
        for m in (tg, torch):
            z = m.tensor(z0, requires_grad=True)
            loss(m, z).backward()
            grads.append(np.asarray(z.grad.numpy()))
        assert grads[0].dtype == np.complex128
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-11)


def test_matrix_rank_complex():
    rng = np.random.default_rng(2)
    u = rng.standard_normal((2, 4, 2)) + 1j * rng.standard_normal((2, 4, 2))
    a = u @ u.conj().swapaxes(-1, -2)  # rank 2, Hermitian
    for kw in ({}, {"hermitian": True}, {"atol": 1e-8}, {"rtol": 0.5}):
        got, want = tg.linalg.matrix_rank(tg.tensor(a), **kw), torch.linalg.matrix_rank(torch.tensor(a), **kw)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == tg.int64


def test_complex_linalg_results_and_errors():
    z = tg.tensor([[1 + 1j, 2], [0.5j, -1]])
    assert tg.linalg.slogdet(z).logabsdet.dtype == tg.float32 and tg.linalg.slogdet(z).sign.dtype == tg.complex64
    assert tg.linalg.svdvals(z).dtype == tg.float32 and tg.linalg.eigvalsh(z).dtype == tg.float32
    assert tg.linalg.svd(z).S.dtype == tg.float32 and tg.linalg.cond(z).dtype == tg.float32
    assert tg.linalg.eigvals(tg.eye(2)).dtype == tg.complex64
    assert tg.linalg.eig(z.real).eigenvectors.dtype == tg.complex64
    assert tuple(tg.linalg.eigvals(tg.zeros(2, 0, 0)).shape) == (2, 0)
    with raises(RuntimeError, "linalg.eig", "square"):
        tg.linalg.eig(tg.ones(2, 3))
    with raises(RuntimeError, "linalg.solve", "dtype"):
        tg.linalg.solve(z, tg.ones(2, 1))
    with raises(tg.linalg.LinAlgError, "linalg.inv", "singular"):
        tg.linalg.inv(tg.zeros(2, 2, dtype=tg.complex128))
    with raises(tg.linalg.LinAlgError, "cholesky", "positive-definite"):
        tg.linalg.cholesky(-tg.eye(2, dtype=tg.complex128))
