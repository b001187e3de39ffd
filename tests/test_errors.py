"""Error messages: every misuse raises the right exception type with a message that names the op and the
offending shapes / dtypes / values. Table-driven: (id, thunk, exception type, regexes the message must match)."""
import re

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.backend import Device
from tensorgrad.tensor import Tensor, check_same_device


def t(*shape, dtype=None, requires_grad=False):
    return tg.ones(*shape, dtype=dtype, requires_grad=requires_grad)


def _backward_twice():
    x = t(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _backward_after_grad():
    x = t(2, 3, requires_grad=True)
    y = (x @ x.t()).tanh().mean()
    tg.autograd.grad(y, x)
    y.backward()


def _inplace_leaf(op):
    def f():
        x = t(2, requires_grad=True)
        if op == "+=":
            x += 1
        else:
            getattr(x, op)(2)
    return f


def _modified_after_save(how):
    def f():
        x = t(3)
        w = t(3, requires_grad=True)
        y = (x * w).sum()  # MulBackward saves x's array
        if how == "iadd":
            x += 1
        else:
            x.detach()[1:].fill_(2.0)  # a view of a detach(): same memory, same version counter
        y.backward()
    return f


def _set_requires_grad_int():
    tg.tensor([1, 2], dtype=tg.int32).requires_grad_()


def _mixed_device_real():
    if not tg.cuda_available():
        pytest.skip("needs CuPy and a GPU")
    return tg.ones(2) + tg.ones(2, device="cuda")


def _grad_unused_input():
    x = t(2, requires_grad=True)
    u = t(3, requires_grad=True)
    tg.autograd.grad((x * 2).sum(), [x, u])


def _no_cuda(fn):
    def f():
        if tg.cuda_available():
            pytest.skip("CUDA is available here")
        return fn()
    return f


def _backward_no_grad():
    tg.ones(2, 3).sum().backward()


def _reduce(name):
    return lambda: getattr(tg, name)(t(2, 3), dim=2)


CASES = [
    # ------------------------------------------------------------------------------- matmul / linear
    ("matmul-shapes", lambda: t(2, 3) @ t(4, 5), RuntimeError, [r"matmul", r"\(2, 3\)", r"\(4, 5\)"]),
    ("matmul-batch", lambda: t(2, 2, 3) @ t(3, 3, 4), RuntimeError, [r"matmul", r"\(2, 2, 3\)", r"\(3, 3, 4\)", "batch"]),
    ("matmul-0d", lambda: tg.matmul(tg.tensor(2.0), t(3)), RuntimeError, [r"matmul", r"\(\)", r"\(3,\)"]),
    ("matmul-dtype", lambda: t(2, 3) @ t(3, 2, dtype=tg.float64), TypeError, [r"matmul", "float32", "float64"]),
    ("linear-weight", lambda: F.linear(t(2, 3), t(4, 5)), RuntimeError, [r"linear", r"\(2, 3\)", r"\(4, 5\)"]),
    ("linear-bias", lambda: F.linear(t(2, 3), t(4, 3), t(5)), RuntimeError, [r"linear", r"bias", r"\(5,\)", r"\(4, 3\)"]),
    ("linear-dtype", lambda: F.linear(t(2, 3), t(4, 3, dtype=tg.float64)), TypeError, [r"linear", "float32", "float64"]),
    # ------------------------------------------------------------------------------------ autograd
    ("requires-grad-int-factory", lambda: tg.tensor([1, 2], requires_grad=True), RuntimeError,
     [r"requires_grad", r"int64", r"floating point"]),
    ("requires-grad-int32-method", _set_requires_grad_int, RuntimeError, [r"requires_grad", r"int32"]),
    ("requires-grad-zeros-bool", lambda: tg.zeros(2, dtype=tg.bool, requires_grad=True), RuntimeError,
     [r"requires_grad", r"bool"]),
    ("backward-non-scalar", lambda: (t(2, 3, requires_grad=True) * 2).backward(), RuntimeError,
     [r"backward", r"scalar", r"\(2, 3\)"]),
    ("backward-gradient-shape", lambda: (t(2, requires_grad=True) * 2).backward(t(3)), RuntimeError,
     [r"backward", r"\(3,\)", r"\(2,\)"]),
    ("backward-twice", _backward_twice, RuntimeError, [r"SumBackward", r"second time", r"retain_graph=True"]),
    ("backward-twice-after-grad", _backward_after_grad, RuntimeError, [r"MeanBackward", r"second time", r"retain_graph"]),
    ("backward-no-grad", _backward_no_grad, RuntimeError, [r"backward", r"does not require grad", r"\(\)"]),
    ("inplace-leaf-iadd", _inplace_leaf("+="), RuntimeError, [r"add_", r"leaf", r"\(2,\)", r"float32", r"no_grad"]),
    ("inplace-leaf-mul_", _inplace_leaf("mul_"), RuntimeError, [r"mul_", r"leaf", r"\(2,\)"]),
    ("inplace-leaf-fill_", _inplace_leaf("fill_"), RuntimeError, [r"fill_", r"leaf", r"\(2,\)"]),
    ("setitem-leaf", lambda: t(2, 3, requires_grad=True).__setitem__(0, 1.0), RuntimeError, [r"setitem", r"\(2, 3\)"]),
    ("inplace-saved-modified", _modified_after_save("iadd"), RuntimeError,
     [r"^MulBackward", r"modified in place", r"\(3,\)", r"float32", r"version 1, expected 0", r"clone"]),
    ("inplace-saved-modified-via-view", _modified_after_save("view"), RuntimeError,
     [r"^MulBackward", r"\(3,\)", r"float32", r"version 1, expected 0"]),
    ("grad-unused", _grad_unused_input, RuntimeError, [r"grad", r"input 1", r"\(3,\)", r"allow_unused"]),
    ("grad-input-no-grad", lambda: tg.autograd.grad((t(2, requires_grad=True) * 2).sum(), t(4)), RuntimeError,
     [r"grad", r"\(4,\)", r"does not require grad"]),
    ("numpy-requires-grad", lambda: t(2, requires_grad=True).numpy(), RuntimeError, [r"numpy", r"detach"]),
    # ------------------------------------------------------------------------------------ dims
    ("sum-dim", _reduce("sum"), IndexError, [r"sum", r"dim 2", r"\(2, 3\)"]),
    ("mean-dim", _reduce("mean"), IndexError, [r"mean", r"dim 2", r"\(2, 3\)"]),
    ("amax-dim", lambda: tg.amax(t(2, 3), dim=-3), IndexError, [r"amax", r"dim -3", r"\(2, 3\)"]),
    ("softmax-dim", lambda: tg.softmax(t(2, 3), dim=3), IndexError, [r"softmax", r"dim 3", r"\(2, 3\)"]),
    ("log-softmax-dim", lambda: tg.log_softmax(t(4), dim=1), IndexError, [r"log_softmax", r"dim 1", r"\(4,\)"]),
    ("transpose-dim", lambda: t(2, 3).transpose(0, 5), IndexError, [r"transpose", r"dim 5", r"\(2, 3\)"]),
    ("permute-dims", lambda: t(2, 3).permute(0, 0), RuntimeError, [r"permute", r"\[0, 0\]", r"\(2, 3\)"]),
    ("t-3d", lambda: t(2, 3, 4).t(), RuntimeError, [r"\bt\b", r"\(2, 3, 4\)"]),
    ("squeeze-dim", lambda: t(2, 3).squeeze(4), IndexError, [r"squeeze", r"dim 4", r"\(2, 3\)"]),
    ("unsqueeze-dim", lambda: t(2, 3).unsqueeze(5), IndexError, [r"unsqueeze", r"dim 5", r"\(2, 3\)"]),
    ("cat-dim", lambda: tg.cat([t(2, 3), t(2, 3)], dim=2), IndexError, [r"cat", r"dim 2", r"\(2, 3\)"]),
    ("stack-dim", lambda: tg.stack([t(2, 3), t(2, 3)], dim=4), IndexError, [r"stack", r"dim 4", r"\(2, 3\)"]),
    ("split-sections", lambda: t(5, 2).split([2, 2]), RuntimeError, [r"split", r"\[2, 2\]", r"\(5, 2\)"]),
    # ------------------------------------------------------------------------------------ shapes
    ("reshape", lambda: t(2, 3).reshape(4, 2), RuntimeError, [r"reshape", r"\[4, 2\]", r"\(2, 3\)", r"6 elements"]),
    ("reshape-two-minus-one", lambda: t(2, 3).reshape(-1, -1), RuntimeError, [r"reshape", r"\[-1, -1\]", r"\(2, 3\)"]),
    ("view-indivisible", lambda: t(2, 3).view(-1, 4), RuntimeError, [r"reshape", r"\[-1, 4\]", r"\(2, 3\)"]),
    ("cat-shapes", lambda: tg.cat([t(2, 3), t(2, 4)], dim=0), RuntimeError, [r"cat", r"\(2, 3\)", r"\(2, 4\)", r"dim 0"]),
    ("cat-ndim", lambda: tg.cat([t(2, 3), t(3)]), RuntimeError, [r"cat", r"\(2, 3\)", r"\(3,\)"]),
    ("cat-empty", lambda: tg.cat([]), ValueError, [r"cat", r"non-empty"]),
    ("stack-shapes", lambda: tg.stack([t(2, 3), t(3, 2)]), RuntimeError, [r"stack", r"\(2, 3\)", r"\(3, 2\)"]),
    ("expand", lambda: t(2, 3).expand(4, 3), RuntimeError, [r"expand", r"\(2, 3\)", r"\(4, 3\)"]),
    ("expand-fewer-dims", lambda: t(2, 3).expand(3), RuntimeError, [r"expand", r"\(2, 3\)"]),
    ("add-broadcast", lambda: t(2, 3) + t(4), RuntimeError, [r"^add", r"broadcast", r"\(2, 3\)", r"\(4,\)"]),
    ("mul-broadcast", lambda: t(2, 3, requires_grad=True) * t(2, 1, 2), RuntimeError, [r"^mul", r"\(2, 3\)", r"\(2, 1, 2\)"]),
    ("masked-fill-mask", lambda: t(2, 3).masked_fill(t(4) > 0, 0.0), RuntimeError,
     [r"masked_fill", r"\(4,\)", r"\(2, 3\)"]),
    ("masked-fill-dtype", lambda: t(2, 3).masked_fill(t(2, 3), 0.0), TypeError, [r"masked_fill", r"bool", r"float32"]),
    ("item-many", lambda: t(2, 2).item(), RuntimeError, [r"item", r"one element", r"\(2, 2\)"]),
    ("bool-many", lambda: bool(t(2)), RuntimeError, [r"bool", r"ambiguous", r"\(2,\)"]),
    # ------------------------------------------------------------------------------------ indexing
    ("getitem-range", lambda: t(3, 2)[5], IndexError, [r"getitem", r"5", r"\(3, 2\)"]),
    ("getitem-range-grad", lambda: t(3, 2, requires_grad=True)[:, 7], IndexError, [r"getitem", r"7", r"\(3, 2\)"]),
    ("getitem-float-index", lambda: t(3)[tg.tensor([0.0])], IndexError, [r"getitem", r"float32", r"\(3,\)"]),
    ("embedding-range", lambda: F.embedding(tg.tensor([1, 10]), t(10, 3)), IndexError,
     [r"embedding", r"10", r"\(10, 3\)"]),
    ("embedding-float-idx", lambda: F.embedding(tg.tensor([1.0]), t(10, 3)), TypeError, [r"embedding", r"float32"]),
    # ------------------------------------------------------------------------------------ dtypes
    ("mean-int", lambda: tg.tensor([1, 2, 3]).mean(), TypeError, [r"mean", r"int64", r"\(3,\)"]),
    ("where-cond", lambda: tg.where(tg.tensor([1, 0]), t(2), t(2)), TypeError, [r"where", r"bool", r"int64", r"\(2,\)"]),
    ("randn-int", lambda: tg.randn(2, dtype=tg.int64), TypeError, [r"randn", r"int64"]),
    ("set-default-dtype-int", lambda: tg.set_default_dtype(tg.int32), TypeError, [r"set_default_dtype", r"int32"]),
    ("unknown-dtype", lambda: tg.zeros(2, dtype="complex999"), TypeError, [r"dtype", r"complex999"]),
    ("bitwise-and-float", lambda: t(2) & t(2), RuntimeError, [r"bitwise_and", r"floating point", r"float32", r"bool"]),
    # ------------------------------------------------------------------------------------ values
    ("clamp-no-bounds", lambda: tg.clamp(t(2, 3)), ValueError, [r"clamp", r"min", r"max", r"\(2, 3\)"]),
    ("randint-high-low", lambda: tg.randint(5, 3, (2,)), ValueError, [r"randint", r"high \(3\)", r"low \(5\)"]),
    ("randint-equal", lambda: tg.randint(4, 4, (2,)), ValueError, [r"randint", r"4"]),
    ("dropout-p", lambda: F.dropout(t(2), p=1.5), ValueError, [r"dropout", r"1\.5", r"\[0, 1\]"]),
    ("dropout-negative-p", lambda: F.dropout(t(2), p=-0.1), ValueError, [r"dropout", r"-0\.1"]),
    ("arange-step", lambda: tg.arange(0, 5, 0), ValueError, [r"arange", r"step"]),
    ("zeros-negative", lambda: tg.zeros(2, -1), ValueError, [r"size", r"\(2, -1\)"]),
    ("gelu-approximate", lambda: F.gelu(t(2), approximate="fast"), ValueError, [r"gelu", r"fast"]),
    ("device-type", lambda: Device("tpu"), ValueError, [r"device", r"tpu"]),
    ("topk-k", lambda: tg.topk(t(2, 3), 5), RuntimeError, [r"topk", r"k=5", r"3"]),
    ("one-hot-range", lambda: F.one_hot(tg.tensor([0, 5]), 3), RuntimeError, [r"one_hot", r"num_classes=3"]),
    # ------------------------------------------------------------------------------------ losses / nn
    ("ce-target-range", lambda: F.cross_entropy(t(4, 3), tg.tensor([0, 1, 2, 5])), IndexError,
     [r"cross_entropy", r"\[0, 2\]", r"got 5", r"\(4, 3\)"]),
    ("ce-target-negative", lambda: F.cross_entropy(t(4, 3), tg.tensor([0, -3, 2, 1])), IndexError,
     [r"cross_entropy", r"-3", r"\(4, 3\)"]),
    ("ce-float-target", lambda: F.cross_entropy(t(4, 3), t(4)), TypeError,
     [r"cross_entropy", r"integer", r"float32", r"\(4, 3\)"]),
    ("ce-shape", lambda: F.cross_entropy(t(4, 3), tg.tensor([0, 1, 2, 0, 1])), RuntimeError,
     [r"cross_entropy", r"\(4, 3\)", r"\(5,\)"]),
    ("ce-int-input", lambda: F.cross_entropy(tg.ones(4, 3, dtype=tg.int64), tg.tensor([0, 1, 2, 0])), TypeError,
     [r"cross_entropy", r"floating point", r"int64", r"\(4, 3\)"]),
    ("ce-reduction", lambda: F.cross_entropy(t(4, 3), tg.tensor([0, 1, 2, 0]), reduction="avg"), ValueError,
     [r"cross_entropy", r"avg"]),
    ("mse-shape", lambda: F.mse_loss(t(2, 3), t(3, 2)), RuntimeError, [r"mse_loss", r"\(2, 3\)", r"\(3, 2\)"]),
    ("layer-norm-shape", lambda: F.layer_norm(t(2, 4), (5,)), RuntimeError, [r"layer_norm", r"\[5\]", r"\(2, 4\)"]),
    ("layer-norm-weight", lambda: F.layer_norm(t(2, 4), (4,), weight=t(3)), RuntimeError,
     [r"layer_norm", r"weight", r"\(3,\)", r"\[4\]"]),
    ("sdpa-shape", lambda: F.scaled_dot_product_attention(t(1, 2, 5, 8), t(1, 2, 6, 4), t(1, 2, 6, 8)), RuntimeError,
     [r"scaled_dot_product_attention", r"\(1, 2, 5, 8\)", r"\(1, 2, 6, 4\)", r"\(1, 2, 6, 8\)"]),
    ("sdpa-dtype", lambda: F.scaled_dot_product_attention(t(1, 5, 8), t(1, 5, 8, dtype=tg.float64), t(1, 5, 8)),
     TypeError, [r"scaled_dot_product_attention", r"float32", r"float64"]),
    # ------------------------------------------------------------------------------------ devices
    ("mixed-device", _mixed_device_real, RuntimeError, [r"device", r"cpu", r"cuda"]),
    ("device-bad-index", lambda: tg.ones(2, device="cuda:x"), ValueError, [r"device", r"'cuda:x'", r"cuda:N"]),
    ("device-negative-index", lambda: Device("cuda:-1"), ValueError, [r"device", r"'cuda:-1'"]),
    ("device-cpu-index", lambda: Device("cpu:1"), ValueError, [r"device", r"'cpu:1'"]),
    ("device-not-string", lambda: Device(3), TypeError, [r"device", r"3"]),
    ("cuda-unavailable-factory", _no_cuda(lambda: tg.ones(2, device="cuda")), RuntimeError,
     [r"cuda:0", r"not available"]),
    ("cuda-unavailable-to", _no_cuda(lambda: tg.ones(2).to("cuda")), RuntimeError, [r"cuda:0", r"not available"]),
]


@pytest.mark.parametrize("thunk,exc,patterns", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_message(thunk, exc, patterns):
    with pytest.raises(exc) as info:
        thunk()
    msg = str(info.value)
    missing = [p for p in patterns if not re.search(p, msg)]
    assert not missing, f"message {msg!r} lacks {missing}"


def test_enough_cases():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_category_of_issue_8_is_covered():
    """shape, dtype, device, requires_grad on ints, backward on a non-scalar, backward twice, in-place on a leaf
    that needs grad, bad dims: at least two cases each (ids carry the category)."""
    ids = [c[0] for c in CASES]
    need = {"shape": ("matmul-shapes", "cat-shapes", "reshape", "add-broadcast", "expand", "mse-shape"),
            "dtype": ("-dtype", "-int", "float-"), "device": ("device",), "requires-grad-int": ("requires-grad-",),
            "backward-non-scalar": ("backward-non-scalar", "backward-gradient-shape"), "backward-twice": ("backward-twice",),
            "inplace-leaf": ("inplace-leaf", "setitem-leaf"), "dims": ("-dim",)}
    for cat, keys in need.items():
        n = sum(any(k in i for k in keys) for i in ids)
        assert n >= 2, (cat, n)


class _FakeCudaTensor(Tensor):
    """A CPU tensor that claims to live on cuda:0, to exercise the device check without a GPU."""
    __slots__ = ()

    @property
    def device(self):
        return Device("cuda:0")


def test_check_same_device_helper():
    a = tg.ones(2, 3)
    fake = _FakeCudaTensor(np.ones((3,), dtype=np.float32))
    with pytest.raises(RuntimeError) as info:
        check_same_device("add", [a, fake, 2.0])
    msg = str(info.value)
    for p in [r"^add", r"same device", r"\(2, 3\) on cpu", r"\(3,\) on cuda:0"]:
        assert re.search(p, msg), msg
    check_same_device("add", [a, tg.ones(3), 2.0])  # one device: fine


def test_error_leaves_no_partial_state():
    # a failed in-place op must not modify the tensor or bump its version
    x = t(2, requires_grad=True)
    v = x._version
    with pytest.raises(RuntimeError):
        x.add_(1)
    assert x.tolist() == [1.0, 1.0] and x._version == v
    # a failed shape check in an in-place op leaves the tensor alone too
    y = t(2)
    with pytest.raises(RuntimeError, match=r"add_.*\(3, 2\).*\(2,\)"):
        y.add_(t(3, 2))
    assert y.tolist() == [1.0, 1.0]


def test_setitem_records_a_gradient_as_torch():
    # buf[:2] = v with v requiring grad gives buf v's history (torch's index_put_); into a non-leaf that requires
    # grad, the overwritten values get a zero gradient; a leaf that requires grad is refused by name
    import tensorgrad as tg
    import torch
    grads = []
    for lib in (tg, torch):
        buf = lib.zeros(4, 3)
        v = lib.ones(2, 3, requires_grad=True)
        buf[:2] = v
        leaf = lib.ones(4, 3, requires_grad=True)
        h = leaf * 3.0
        h[1:3, 0] = buf[:2, 1] * 2.0
        (h * lib.arange(12.0).reshape(4, 3)).sum().backward()
        grads.append((v.grad.tolist(), leaf.grad.tolist(), h.tolist()))
        with pytest.raises(RuntimeError, match="leaf"):
            leaf[0] = 1.0
    assert grads[0] == grads[1]
