"""torch.lobpcg (tensorgrad/ops/linalg_lobpcg.py) vs PyTorch: from the same initial X the iteration is torch's, so the
eigenpairs agree to rounding (eigenvectors through gauge-invariant X X^T); torch's gradient (B = None) compared and
gradchecked in float64, its double backward gradgradchecked; torch's errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib

rng = np.random.default_rng(0)


def spectrum_matrix(m, batch=(), noise=0.05):
    """A symmetric-ish matrix with well-separated eigenvalues 1..m (plus a little non-symmetric noise: lobpcg
    symmetrizes A when it requires grad, as torch)."""
    q = np.linalg.qr(rng.standard_normal(batch + (m, m)))[0]
    return (q * np.arange(1.0, m + 1)) @ np.swapaxes(q, -1, -2) + noise * rng.standard_normal(batch + (m, m))


def spd(m):
    r = rng.standard_normal((m, m))
    return np.eye(m) + 0.1 * r @ r.T


A9, X9 = spectrum_matrix(9), rng.standard_normal((9, 2))


def pairs(a, x0=X9, k=2, **kw):
    E, X = lib(a).lobpcg(a, k=k, X=lib(a).tensor(x0, dtype=a.dtype), **kw)
    return E, X @ X.mT


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("method", ["ortho", "basic"])
def test_eigenpairs_equal_torchs(largest, method):
    a = spectrum_matrix(12, noise=0.0)
    x0 = rng.standard_normal((12, 3))
    for dtype, tol in ((np.float64, 1e-9), (np.float32, 2e-3)):
        ours = tg.lobpcg(tg.tensor(a.astype(dtype)), k=3, X=tg.tensor(x0.astype(dtype)), largest=largest,
                         method=method)
        theirs = torch.lobpcg(torch.tensor(a.astype(dtype)), k=3, X=torch.tensor(x0.astype(dtype)),
                              largest=largest, method=method)
        assert ours[0].dtype == (tg.float64 if dtype == np.float64 else tg.float32)
        np.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy(), rtol=tol)
        np.testing.assert_allclose((ours[1] @ ours[1].mT).numpy(), (theirs[1] @ theirs[1].mT).numpy(), atol=tol * 10)
        want = np.linalg.eigvalsh(a)
        np.testing.assert_allclose(ours[0].numpy(), want[::-1][:3] if largest else want[:3], rtol=tol)


def test_generalized_batched_and_random_start():
    a, b, x0 = spectrum_matrix(10, noise=0.0), spd(10), rng.standard_normal((10, 2))
    ours = tg.lobpcg(tg.tensor(a), k=2, B=tg.tensor(b), X=tg.tensor(x0))
    theirs = torch.lobpcg(torch.tensor(a), k=2, B=torch.tensor(b), X=torch.tensor(x0))
    np.testing.assert_allclose(ours[0].numpy(), theirs[0].numpy(), rtol=1e-9)
    batch = spectrum_matrix(9, batch=(2, 2), noise=0.0)
    tg.manual_seed(3)
    E, X = tg.lobpcg(tg.tensor(batch), k=2, largest=False)  # the initial X from tensorgrad's generator
    assert tuple(E.shape) == (2, 2, 2) and tuple(X.shape) == (2, 2, 9, 2)
    np.testing.assert_allclose(E.numpy(), np.linalg.eigvalsh(batch)[..., :2], rtol=1e-7)
    np.testing.assert_allclose((batch @ X.numpy()), X.numpy() * E.numpy()[..., None, :], atol=1e-6)
    seen = []
    tg.lobpcg(tg.tensor(a), k=1, X=tg.tensor(x0[:, :1]), tracker=lambda w: seen.append(w.ivars["istep"]))
    assert seen and seen == sorted(seen)


def test_gradient_against_torch_and_gradcheck():
    for fn in (pairs, lambda a: pairs(a, largest=False), lambda a: pairs(a, method="basic")):
        check_op(fn, inputs=[A9], atol=1e-7, rtol=1e-6)
    a = spectrum_matrix(10, batch=(2,))
    x0 = rng.standard_normal((2, 10, 3))  # (torch needs X batched like A)
    check_op(lambda x: pairs(x, x0=x0, k=3)[0], inputs=[a], atol=1e-7, rtol=1e-6)
    check_op(pairs, inputs=[A9.astype(np.float32)], dtype=np.float32, atol=2e-3, rtol=2e-3)
    a6, x6 = spectrum_matrix(6), rng.standard_normal((6, 2))
    tight = lambda a: pairs(a, x0=x6, tol=1e-14)  # noqa: E731  (converged far below the difference step)
    gradcheck_op(tight, inputs=[a6])
    gradgradcheck_op(tight, [tg.tensor(a6, requires_grad=True)])


def test_errors_as_torch():
    with pytest.raises(ValueError, match="not applicable"):
        tg.lobpcg(tg.tensor(A9), k=4)
    with pytest.raises(ValueError, match="not applicable"):
        torch.lobpcg(torch.tensor(A9), k=4)
    b = spd(9)
    for m in (torch, tg):  # a B that requires grad: the backward is refused (torch: "B != I")
        bt = m.tensor(b, requires_grad=True)
        E, _ = m.lobpcg(m.tensor(A9, requires_grad=True), k=2, B=bt, X=m.tensor(X9))
        with pytest.raises(ValueError, match="B != I"):
            E.sum().backward()
    with pytest.raises(AssertionError, match="same shape"):
        tg.lobpcg(tg.tensor(A9), B=tg.tensor(np.eye(8)))
