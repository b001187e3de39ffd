"""Shared by tests/test_nn_extra_*.py: run one callable on tensorgrad and torch inputs made from the same numpy data,
compare the forward result and the gradient of every float input."""
import numpy as np
import torch

import tensorgrad as tg

TDT = {np.float64: torch.float64, np.float32: torch.float32}
TOL = {np.float64: 1e-10, np.float32: 2e-5}


def compare(fn, *arrays, dtype=np.float64, tol=None, seed=0, grads=None):
    """fn(lib, *tensors) on both libraries (lib is tensorgrad or torch); float arrays become ``dtype`` and require
    grad (unless ``grads`` says otherwise). Returns the tensorgrad output."""
    tol = tol or TOL[dtype]
    grads = [np.asarray(a).dtype.kind == "f" for a in arrays] if grads is None else grads
    data = [np.asarray(a).astype(dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    ours = [tg.tensor(a.copy(), requires_grad=g) for a, g in zip(data, grads)]
    theirs = [torch.tensor(a.copy(), requires_grad=g) for a, g in zip(data, grads)]
    y, ty = fn(tg, *ours), fn(torch, *theirs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol, err_msg="forward")
    assert y.dtype == np.dtype(str(ty.dtype).replace("torch.", "")), (y.dtype, ty.dtype)
    if any(grads) and ty.requires_grad:
        w = np.random.default_rng(seed).standard_normal(tuple(ty.shape)).astype(dtype)
        (y * tg.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if b.requires_grad:
                assert (a.grad is None) == (b.grad is None), f"grad {i}"
                if b.grad is not None:
                    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol,
                                               err_msg=f"grad of input {i}")
    return y


def F(lib):
    return lib.nn.functional
