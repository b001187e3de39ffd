"""detect_anomaly: the first op whose forward output or backward gradients hold NaN/Inf is named, with the
traceback of the line that created it; nothing is hooked or recorded when the mode is off."""
import inspect
import re
import warnings

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.autograd import detect_anomaly, set_detect_anomaly, is_anomaly_enabled
from tensorgrad.autograd import engine, function

DEPTH = 40


@pytest.fixture(autouse=True)
def _quiet_and_clean():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's divide-by-zero warnings are the point here
        yield
    assert not is_anomaly_enabled(), "a test left anomaly mode on"
    assert not function._forward_hooks and not engine._grad_hooks


def _line_of(marker):
    """Line number in this file of the line holding `marker` (a comment tag)."""
    src, _ = inspect.getsourcelines(inspect.getmodule(_line_of))
    return next(i + 1 for i, ln in enumerate(src) if marker in ln and "_line_of" not in ln)


def _deep(h, depth=DEPTH):
    """depth finite, well-conditioned elementwise/matmul ops."""
    w = tg.tensor(np.eye(h.shape[-1]) * 0.9, dtype=h.dtype)
    for i in range(depth):
        h = (h @ w).tanh() * 1.1 + 0.01 if i % 2 else h.sigmoid() + h * 0.5
    return h


def _inputs():
    tg.manual_seed(0)
    x = tg.randn(4, 8, requires_grad=True)
    return x


def _check_msg(msg, patterns):
    missing = [p for p in patterns if not re.search(p, msg, re.S)]
    assert not missing, f"message {msg!r} lacks {missing}"


# ------------------------------------------------------------------------------------------ forward
def test_forward_log_zero_in_deep_graph_names_log_and_its_line():
    x = _inputs()
    with detect_anomaly():
        h = _deep(x)
        z = h.relu() * 0.0  # all zeros: finite
        with pytest.raises(RuntimeError) as info:
            y = z.log()  # ANOMALY-LOG-FWD
            _deep(y).sum()  # never reached
    _check_msg(str(info.value), [r"forward of Log\b", r"32 -Inf among its 32 values", r"\(4, 8\) float32",
                                 r"all its inputs are finite",
                                 rf"test_anomaly\.py:{_line_of('ANOMALY-LOG-FWD')} in "
                                 r"test_forward_log_zero_in_deep_graph", r"y = z\.log\(\)", r"Traceback"])


def test_forward_zero_over_zero_in_deep_graph_names_div_shapes_and_dtypes():
    x = _inputs().double()
    with detect_anomaly():
        h = _deep(x)
        num = h[:, :3] * 0.0
        den = (h[:1, :3] - h[:1, :3])  # zeros, shape (1, 3): broadcast
        with pytest.raises(RuntimeError) as info:
            _deep(num / den, 5)  # ANOMALY-DIV-FWD
    _check_msg(str(info.value), [r"forward of Div\b", r"12 NaN among its 12 values", r"\(4, 3\) float64",
                                 r"Inputs: \(4, 3\) float64, \(1, 3\) float64", r"this op made the first NaN",
                                 rf"test_anomaly\.py:{_line_of('ANOMALY-DIV-FWD')}"])


def test_forward_check_ignores_deliberate_infinities():
    # masked_fill(-inf) before softmax is how causal attention works; the Inf comes in as an argument
    x = _inputs()
    with detect_anomaly():
        mask = tg.ones(4, 8).triu(1) > 0
        s = _deep(x).masked_fill(mask, float("-inf"))
        p = tg.softmax(s, dim=-1)
        (p * p).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_forward_check_reports_nan_made_from_inf():
    # -inf - (-inf) = NaN: a fully masked row; the op that turns the deliberate Inf into NaN is reported
    x = _inputs()
    with detect_anomaly():
        s = x.masked_fill(tg.ones(4, 8) > 0, float("-inf"))
        with pytest.raises(RuntimeError) as info:
            s - s  # ANOMALY-SUB-INF
    _check_msg(str(info.value), [r"forward of Sub\b", r"32 NaN", r"hold an Inf", r"this op made the first NaN",
                                 rf"test_anomaly\.py:{_line_of('ANOMALY-SUB-INF')}"])


def test_forward_check_covers_ops_outside_the_graph():
    with detect_anomaly():
        with tg.no_grad():
            with pytest.raises(RuntimeError, match=r"forward of Log\b.*-Inf"):
                tg.zeros(3).log()


def test_overflow_is_reported():
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=r"forward of Exp\b.*1 \+Inf among its 2 values.*\(2,\) float16"):
            tg.tensor([1.0, 20.0], dtype=tg.float16, requires_grad=True).exp()


# ----------------------------------------------------------------------------------------- backward
def _masked_log_graph(x):
    """where(x > 0, log(x), 0) in a deep graph: the forward is finite, log's backward is g / 0 = 0 / 0 = NaN
    at the masked-out zeros (the classic 'NaN through where' gradient)."""
    h = _deep(x)
    h = (h - h.mean()).relu()  # about half the entries are exactly 0
    safe = tg.where(h > 0, h.log(), tg.zeros(*h.shape))  # ANOMALY-LOG-BWD
    return _deep(safe).sum()


def test_backward_log_zero_names_log_backward_and_creation_line():
    x = _inputs()
    with detect_anomaly(check_forward=False):
        loss = _masked_log_graph(x)
        assert np.isfinite(loss.item())
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    _check_msg(str(info.value), [r"^detect_anomaly: LogBackward0 returned \d+ NaN among its 32 values",
                                 r"gradient for input 0 \(shape \(4, 8\) float32\)",
                                 r"gradient flowing into it \(\(4, 8\) float32\) is finite",
                                 r"Forward inputs: \(4, 8\) float32",
                                 rf"test_anomaly\.py:{_line_of('ANOMALY-LOG-BWD')} in _masked_log_graph",
                                 r"h\.log\(\)", r"test_backward_log_zero_names_log_backward"])


def test_forward_check_catches_the_same_graph_earlier():
    # with the default check_forward=True the -inf of log(0) is caught at the forward, before where hides it
    x = _inputs()
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=rf"forward of Log\b.*test_anomaly\.py:{_line_of('ANOMALY-LOG-BWD')}"):
            _masked_log_graph(x)


def test_backward_zero_over_zero_names_div_backward():
    x = _inputs()
    with detect_anomaly(check_forward=False):
        h = _deep(x)
        den = (h - h.detach()) + (x > 0).float()  # exactly 0 where x <= 0, 1 elsewhere
        q = tg.where(den != 0, (h * 0.0) / den, tg.zeros(4, 8))  # ANOMALY-DIV-BWD
        loss = _deep(q, 10).sum()
        assert np.isfinite(loss.item())
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    _check_msg(str(info.value), [r"DivBackward0 returned \d+ NaN", r"input 0 \(shape \(4, 8\) float32\)",
                                 r"Forward inputs: \(4, 8\) float32, \(4, 8\) float32",
                                 rf"test_anomaly\.py:{_line_of('ANOMALY-DIV-BWD')}"])


def test_backward_reports_a_non_finite_incoming_gradient():
    x = _inputs()
    with detect_anomaly():
        y = (x * 2).sum()
        with pytest.raises(RuntimeError, match=r"SumBackward0.*already had 1 \+Inf"):
            y.backward(tg.tensor(float("inf")))


# ------------------------------------------------------------------------------------------ the mode
def test_off_by_default_nothing_hooked_nothing_recorded():
    assert not is_anomaly_enabled()
    x = _inputs()
    y = (x * 0.0).log()  # no error: -inf flows silently, as in PyTorch
    assert y.grad_fn is not None and "_anomaly_info" not in y.grad_fn.__dict__
    with detect_anomaly():
        z = x * 2.0
        assert is_anomaly_enabled() and function._forward_hooks and engine._grad_hooks
    assert "_anomaly_info" in z.grad_fn.__dict__
    assert not is_anomaly_enabled()
    y.sum().backward()  # -inf * ... gradients, no error outside the mode
    assert not np.isfinite(x.grad.numpy()).all()


def test_hooks_removed_after_an_error_and_nesting():
    with pytest.raises(RuntimeError):
        with detect_anomaly():
            tg.zeros(2).log()
    assert not is_anomaly_enabled()
    with detect_anomaly():
        with detect_anomaly(check_forward=False):  # the innermost decides
            tg.zeros(2).log()
        assert is_anomaly_enabled()
        with pytest.raises(RuntimeError):
            tg.zeros(2).log()
    assert not is_anomaly_enabled()


def test_set_detect_anomaly_and_decorator():
    set_detect_anomaly(True)
    try:
        with pytest.raises(RuntimeError, match="forward of Log"):
            tg.zeros(2).log()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    with set_detect_anomaly(True):
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def f():
        return tg.zeros(2).log()
    with pytest.raises(RuntimeError, match="forward of Log"):
        f()
    assert not is_anomaly_enabled()


def test_gpt_step_has_no_false_positive():
    from tensorgrad.models import GPT, GPTConfig
    tg.manual_seed(0)
    m = GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=16, dropout=0.1))
    idx = tg.tensor(np.random.default_rng(0).integers(0, 11, (2, 8)))
    with detect_anomaly():
        _, loss = m(idx, idx)
        loss.backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in m.parameters())
