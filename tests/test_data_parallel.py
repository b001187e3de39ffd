"""nn.DataParallel and nn.SyncBatchNorm against torch in one CPU process: DataParallel wraps (forward, .module,
state_dict keys under module., loading a wrapped checkpoint), SyncBatchNorm computes what BatchNorm does (outputs,
gradients, running statistics over several training steps, then eval), convert_sync_batchnorm swaps the layers
keeping their tensors; and what is refused: several devices in one process, synchronised training over ranks."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import cuda_available
import tensorgrad.nn.data_parallel as DP
import tensorgrad.nn.parallel as parallel

RNG = np.random.default_rng(2)
no_gpu = pytest.mark.skipif(cuda_available(), reason="torch here is a CPU build: compared without a GPU")


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach())


def _net(lib):
    return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 3), lib.nn.BatchNorm2d(3), lib.nn.ReLU(), lib.nn.Flatten(),
                             lib.nn.Linear(12, 2)).double()


@no_gpu
def test_data_parallel_wraps_like_torch_on_a_cpu():
    tm = torch.nn.DataParallel(_net(torch))
    gm = tg.nn.DataParallel(_net(tg))
    assert list(gm.state_dict()) == list(tm.state_dict()) and all(k.startswith("module.") for k in gm.state_dict())
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert gm.device_ids == tm.device_ids == [] and not hasattr(gm, "dim") and not hasattr(tm, "dim")
    assert isinstance(gm.module, tg.nn.Sequential) and gm.module[0] is list(gm.children())[0][0]
    x = RNG.standard_normal((4, 2, 4, 4))
    outs = []
    for lib, m in ((torch, tm), (tg, gm)):
        y = m(lib.tensor(x))
        y.pow(2).sum().backward()
        outs.append([_np(y)] + [_np(p.grad) for p in m.parameters()] + [_np(v) for v in m.state_dict().values()])
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    # the usual checkpoint dance: save the wrapped model's state, load it into a bare one through .module
    bare = _net(tg)
    bare.load_state_dict(gm.module.state_dict())
    np.testing.assert_array_equal(_np(bare[0].weight), _np(gm.module[0].weight))
    assert parallel.DataParallel is tg.nn.DataParallel


def test_data_parallel_refuses_several_devices(monkeypatch):
    monkeypatch.setattr(DP, "device_count", lambda: 2)
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        tg.nn.DataParallel(tg.nn.Linear(2, 2))
    with pytest.raises(NotImplementedError, match="over 2 devices"):
        tg.nn.DataParallel(tg.nn.Linear(2, 2), device_ids=[0, 1])


@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 4), (4, 3, 2, 3), (3, 3, 2, 2, 2)])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_sync_batchnorm_is_batchnorm_in_one_process(shape, momentum, affine):
    tm = torch.nn.SyncBatchNorm(3, momentum=momentum, affine=affine).double()
    gm = tg.nn.SyncBatchNorm(3, momentum=momentum, affine=affine).double()
    if affine:
        w, b = RNG.standard_normal(3), RNG.standard_normal(3)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(w)), tm.bias.copy_(torch.tensor(b))
        gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    assert list(gm.state_dict()) == list(tm.state_dict())
    for step in range(4):
        if step == 3:
            tm.eval(), gm.eval()
        x = RNG.standard_normal(shape) * 2 + 1
        outs = []
        for lib, m in ((torch, tm), (tg, gm)):
            xt = lib.tensor(x, requires_grad=True)
            y = m(xt)
            (y * lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(y.shape))).sum().backward()
            outs.append([_np(y), _np(xt.grad)] + [_np(p.grad) for p in m.parameters()] +
                        [_np(v) for v in m.state_dict().values()])
            for p in m.parameters():
                p.grad = None
        for a, b in zip(*outs):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-10, err_msg=f"step {step}")
    for lib in (torch, tg):
        with pytest.raises(ValueError, match="expected at least 2D input \\(got 1D input\\)"):
            lib.nn.SyncBatchNorm(3)(lib.zeros(3))


def test_convert_sync_batchnorm_matches_torch():
    tnet = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 1), torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.2),
                               torch.nn.Sequential(torch.nn.BatchNorm2d(3, affine=False)), torch.nn.Flatten(),
                               torch.nn.BatchNorm1d(12, track_running_stats=False)).double()
    gnet = tg.nn.Sequential(tg.nn.Conv2d(2, 3, 1), tg.nn.BatchNorm2d(3, eps=1e-3, momentum=0.2),
                            tg.nn.Sequential(tg.nn.BatchNorm2d(3, affine=False)), tg.nn.Flatten(),
                            tg.nn.BatchNorm1d(12, track_running_stats=False)).double()
    gnet.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    gnet[1].eval(), tnet[1].eval()
    w = gnet[1].weight
    opt = tg.optim.SGD(gnet.parameters(), lr=0.1)
    tnet = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tnet)
    gnet = tg.nn.SyncBatchNorm.convert_sync_batchnorm(gnet)
    assert [type(m).__name__ for m in gnet.modules()] == [type(m).__name__ for m in tnet.modules()]
    assert gnet[1].weight is w and gnet[1].eps == 1e-3 and gnet[1].momentum == 0.2 and not gnet[1].training
    assert list(gnet.state_dict()) == list(tnet.state_dict())
    x = RNG.standard_normal((4, 2, 2, 2))
    ys = []
    for lib, m in ((torch, tnet), (tg, gnet)):
        y = m(lib.tensor(x))
        y.sum().backward()
        ys.append(_np(y))
    np.testing.assert_allclose(ys[1], ys[0], rtol=1e-9, atol=1e-10)
    opt.step()  # the optimizer built before the conversion still trains the converted layer's weight
    assert gnet[1].weight.grad is not None


def test_sync_batchnorm_refuses_training_across_ranks(monkeypatch):
    """Several ranks: eval mode is per-rank BatchNorm (the running statistics), training is refused."""
    monkeypatch.setattr(DP.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(DP.dist, "get_world_size", lambda group=None: 4)
    m = tg.nn.SyncBatchNorm(3)
    with pytest.raises(NotImplementedError, match="SyncBatchNorm in training mode over 4 ranks"):
        m(tg.randn(2, 3))
    m.eval()
    assert m(tg.randn(2, 3)).shape == (2, 3)
