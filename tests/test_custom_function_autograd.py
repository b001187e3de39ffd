"""The rest of autograd around a custom Function in torch's style (tests/test_custom_function.py defines them):
gradcheck, autograd.grad, hooks, checkpoint, anomaly mode, the profiler and training in a module, each against torch
where torch has the same."""
import numpy as np
import torch

import tensorgrad as tg
from helpers import raises
from tensorgrad.autograd.custom_function import CustomOutput
from test_custom_function import TG, TH, close


# -- the rest of autograd around a custom Function ------------------------------------------------------------------
def test_torch_gradcheck_and_autograd_grad():
    x = tg.tensor(np.random.default_rng(3).standard_normal(4), requires_grad=True)
    w = tg.tensor(np.random.default_rng(4).standard_normal(4), requires_grad=True)
    assert tg.autograd.gradcheck(lambda a, b: TG["MulAdd"].apply(a, 0.7, b), (x, w))
    assert tg.autograd.gradgradcheck(lambda a, b: TG["MulAdd"].apply(a, 0.7, b), (x, w))
    gx, gw = tg.autograd.grad(TG["MulAdd"].apply(x, 0.7, w).sum(), (x, w))
    tx, tw = (torch.tensor(v.detach().numpy(), requires_grad=True) for v in (x, w))
    ex, ew = torch.autograd.grad(TH["MulAdd"].apply(tx, 0.7, tw).sum(), (tx, tw))
    close(gx, ex)
    close(gw, ew)
    gw, = tg.autograd.grad(TG["MulAdd"].apply(x, 0.7, w).sum(), w)  # (one input of two)
    close(gw, ew)


def test_hooks_and_retain_grad():
    for F, L in ((TG, tg), (TH, torch)):
        x = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
        a, b = F["SplitExp"].apply(x)
        a.register_hook(lambda g: g * 10)
        b.retain_grad()
        (a + b).sum().backward()
        close(b.grad, np.ones(3))
        close(x.grad, 20 + np.exp([1.0, 2.0, 3.0]))


def test_inside_checkpoint():
    from tensorgrad.utils.checkpoint import checkpoint
    from torch.utils.checkpoint import checkpoint as tcheckpoint
    data = np.random.default_rng(5).standard_normal((3, 4))
    results = []
    for F, L, ck in ((TG, tg, lambda f, v: checkpoint(f, v)),
                     (TH, torch, lambda f, v: tcheckpoint(f, v, use_reentrant=False))):
        x = L.tensor(data, requires_grad=True)
        y = ck(lambda v: F["MyExp"].apply(v * 0.5) * v, x)
        y.sum().backward()
        results.append((y, x.grad))
    close(results[0][0], results[1][0])
    close(results[0][1], results[1][1])


def test_anomaly_and_profiler_hooks():
    x = tg.ones(3, requires_grad=True)
    with raises(RuntimeError, "BadNaNBackward"):
        with tg.autograd.detect_anomaly():
            TG["BadNaN"].apply(x).sum().backward()
    with raises(RuntimeError, "BadNaNBackward"):  # torch's anomaly mode names the node too
        with torch.autograd.detect_anomaly():
            TH["BadNaN"].apply(torch.ones(3, requires_grad=True)).sum().backward()
    from tensorgrad import profiler
    with profiler.memory() as prof:
        y = TG["MyExp"].apply(x * 2)
        y.sum().backward()
    assert "MyExpBackward" in prof.by_op and any(r.op == "MyExpBackward" and r.phase == "bwd" for r in prof.timeline)


def test_in_a_module_trained_with_sgd():
    rng = np.random.default_rng(6)
    X, Y = rng.standard_normal((16, 5)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    W1, W2 = rng.standard_normal((8, 5)).astype(np.float32) * 0.3, rng.standard_normal((1, 8)).astype(np.float32) * 0.3
    runs = []
    for F, L in ((TG, tg), (TH, torch)):
        class Net(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2 = L.nn.Linear(5, 8), L.nn.Linear(8, 1)

            def forward(self, x):
                h = F["MyExp"].apply(self.fc1(x).clamp(max=2.0))
                a, b = F["SplitExp"].apply(h * 0.1)
                return self.fc2(F["GradReverse"].apply(a + b, -1.0))
        net = Net()
        with L.no_grad():
            net.fc1.weight.copy_(L.tensor(W1))
            net.fc2.weight.copy_(L.tensor(W2))
            net.fc1.bias.zero_()
            net.fc2.bias.zero_()
        opt = L.optim.SGD(net.parameters(), lr=0.01)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = ((net(L.tensor(X)) - L.tensor(Y)) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        runs.append((losses, [p.detach().numpy().copy() for p in net.parameters()]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-5)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_tensorgrad_ops_keep_their_apply():
    # the torch style is told apart per class: ops (instance forward on arrays) keep Function.apply
    from tensorgrad.ops.elementwise import Exp
    from tensorgrad.autograd.function import Function
    assert Exp.apply.__func__ is Function.apply.__func__
    assert TG["MyExp"].apply.__func__ is not Function.apply.__func__
    assert not hasattr(CustomOutput, "_backward_cls")
