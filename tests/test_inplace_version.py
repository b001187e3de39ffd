"""Version counters: an array saved for backward and then modified in place makes backward raise a clear
error (PyTorch's "modified by an inplace operation") instead of silently using the modified values. The
counter is shared by everything aliasing the same memory: the tensor, its detach(), and non-grad views."""
import gc

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import nn, optim
from tensorgrad.autograd import version as V
from tensorgrad.models import GPT, GPTConfig

MSG = r"one of the arrays saved for the gradient .* was modified in place after it was saved"


def _mul_graph():
    tg.manual_seed(0)
    x = tg.randn(3)
    w = tg.randn(3, requires_grad=True)
    return x, w, (x * w).sum()


def test_issue_example_raises_naming_op_shape_dtype_versions():
    x, w, y = _mul_graph()
    x += 1
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert msg.startswith("MulBackward0: "), msg
    for p in [MSG, r"\(3,\)", r"float32", r"version 1, expected 0", r"after backward\(\)", r"clone"]:
        assert __import__("re").search(p, msg), (p, msg)
    assert w.grad is None  # nothing was accumulated


def test_two_writes_report_version_two():
    x, w, y = _mul_graph()
    x.mul_(2)
    x.sub_(1)
    with pytest.raises(RuntimeError, match=r"MulBackward0.*version 2, expected 0"):
        y.backward()


@pytest.mark.parametrize("how", ["iadd", "add_", "sub_", "mul_", "div_", "clamp_", "copy_", "zero_", "fill_",
                                 "normal_", "uniform_", "masked_fill_", "setitem", "init.normal_", "init.zeros_"])
def test_every_inplace_write_is_caught(how):
    x, w, y = _mul_graph()
    if how == "iadd":
        x += 1
    elif how == "copy_":
        x.copy_(tg.ones(3))
    elif how in ("zero_", "normal_", "uniform_"):
        getattr(x, how)()
    elif how == "clamp_":
        x.clamp_(min=0.0)
    elif how == "masked_fill_":
        x.masked_fill_(tg.tensor([True, False, False]), 0.0)
    elif how == "setitem":
        x[1] = 5.0
    elif how.startswith("init."):
        getattr(nn.init, how[5:])(x)
    else:
        getattr(x, how)(2.0)
    with pytest.raises(RuntimeError, match=r"^MulBackward0: " + MSG):
        y.backward()


def test_write_through_detach_is_caught():
    tg.manual_seed(0)
    w = tg.randn(3, requires_grad=True)
    y = (w * w).sum()  # saves w's array
    w.detach().add_(1)
    with pytest.raises(RuntimeError, match=r"MulBackward0.*\(3,\).*version 1, expected 0"):
        y.backward()


def test_write_through_non_grad_view_is_caught():
    x, w, y = _mul_graph()
    x[0:2] += 1  # a view of x's memory, then setitem back into x
    with pytest.raises(RuntimeError, match=r"^MulBackward0: " + MSG):
        y.backward()
    x, w, y = _mul_graph()
    v = x.reshape(3, 1)
    assert np.shares_memory(v.array, x.array)
    v.mul_(3)
    with pytest.raises(RuntimeError, match=r"^MulBackward0: " + MSG):
        y.backward()


def test_write_into_a_view_saved_by_the_op_is_caught():
    tg.manual_seed(0)
    base = tg.randn(4, 3)
    w = tg.randn(3, requires_grad=True)
    y = (base[1] * w).sum()  # saves a view of row 1
    base[3] = 0.0  # a different row, but the same memory: flagged, like PyTorch
    with pytest.raises(RuntimeError, match=r"MulBackward0.*\(3,\), float32.*version 1, expected 0"):
        y.backward()


def test_saved_output_modified_under_no_grad_is_caught():
    x = tg.ones(3, requires_grad=True)
    y = x.exp()  # ExpBackward0 saves its output
    with tg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match=r"^ExpBackward0: " + MSG):
        y.sum().backward()


def test_modification_after_backward_is_fine_and_grads_use_original_values():
    x, w, y = _mul_graph()
    x0 = x.numpy().copy()
    y.backward()
    x += 1
    np.testing.assert_allclose(w.grad.numpy(), x0)


def test_unrelated_and_cloned_tensors_are_fine():
    x, w, y = _mul_graph()
    other = tg.randn(3)
    other += 1
    x.clone().add_(1)  # a copy: x's memory untouched
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), x.numpy())


def test_version_counter_is_shared_by_aliases():
    x = tg.zeros(4)
    d, v = x.detach(), x[1:3]
    assert x._version == d._version == v._version == 0
    d.add_(1)
    assert x._version == d._version == v._version == 1
    v.fill_(2.0)
    assert x._version == d._version == v._version == 2
    assert tg.zeros(4)._version == 0 and x.clone()._version == 0


def test_counter_entries_die_with_their_array():
    x = tg.zeros(1000)
    x.add_(1)
    key = id(V.root(x.array))
    assert key in V._counters
    del x
    gc.collect()
    assert key not in V._counters


def test_only_recorded_nodes_record_versions():
    from tensorgrad.autograd import function
    ctxs = []
    function._forward_hooks.append(lambda ctx, args, out, recorded: ctxs.append(ctx))
    try:
        x, w = tg.ones(3), tg.ones(3, requires_grad=True)
        with tg.no_grad():
            x * w
        x * w
    finally:
        function._forward_hooks.pop()
    assert ctxs[0].versions == ()  # under no_grad: nothing recorded
    assert [k for _, k, _ in ctxs[1].versions] == [id(x.array)]  # only x is saved (for w's gradient)


def test_versions_are_released_with_the_graph():
    x, w, y = _mul_graph()
    node = y.grad_fn.next[0]
    assert node.versions
    y.backward()
    assert node.versions == () and node.saved == ()


@pytest.mark.parametrize("make_opt", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                      lambda ps: optim.AdamW(ps, lr=1e-2)], ids=["sgd", "adamw"])
def test_retain_graph_then_step_then_second_backward_raises(make_opt):
    tg.manual_seed(0)
    lin = nn.Linear(4, 3)
    opt = make_opt(lin.parameters())
    x = tg.randn(5, 4, requires_grad=True)  # so the linear op saves the weight (for x's gradient)
    loss = lin(x).pow(2).mean()
    v = lin.weight._version  # init wrote it in place already
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=rf"^LinearBackward0: .*\(3, 4\), float32.*version {v + 1}, expected {v}\)"):
        loss.backward()


def test_retain_graph_without_step_still_backwards_twice():
    tg.manual_seed(0)
    lin = nn.Linear(4, 3)
    loss = lin(tg.randn(5, 4)).pow(2).mean()
    loss.backward(retain_graph=True)
    g1 = lin.weight.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), 2 * g1, rtol=1e-6)


def test_checkpointed_input_modified_before_backward_raises():
    tg.manual_seed(0)
    lin = nn.Linear(3, 3)
    x = tg.randn(2, 3)
    y = tg.checkpoint(lambda a: lin(a).tanh(), x).sum()
    x.mul_(2)  # the replay would silently use the new x
    with pytest.raises(RuntimeError, match=r"^CheckpointBackward0: " + MSG):
        y.backward()


def test_tiny_gpt_training_loop_is_unaffected():
    tg.manual_seed(0)
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=20, dropout=0.1, bias=True)
    m = GPT(cfg)
    opt = m.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.99))
    rng = np.random.default_rng(0)
    data = rng.integers(0, 20, (4, 17))
    x, t = tg.tensor(data[:, :-1]), tg.tensor(data[:, 1:])
    losses = []
    v0 = [p._version for p in m.parameters()]  # init wrote them in place already
    for step in range(30):
        opt.zero_grad(set_to_none=True)
        for micro in range(2):  # gradient accumulation: two graphs alive before the step
            _, loss = m(x[2 * micro:2 * micro + 2], t[2 * micro:2 * micro + 2])
            (loss / 2).backward()
            losses.append(loss.item())
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    assert losses[-1] < losses[0] - 1.0, (losses[0], losses[-1])
    # the parameters were bumped by every step; a fresh forward/backward still works
    assert [p._version - v for p, v in zip(m.parameters(), v0)] == [30] * len(v0)
    _, loss = m(x, t)
    loss.backward()
