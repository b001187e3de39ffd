"""Random draws under CUDA-graph capture, the parts a CPU can check (the captured runs are in test_cuda_graphs.py).

A captured step cannot take (seed, offset) as launch arguments. Under capture the Generator hands out GraphOffsets
(the draw's position in the step) carrying a device array {seed, base} that each replay's prologue rewrites; the
kernels and the reference compute with (state[0], state[1] + offset). Checked here: the reference's masks under a
GraphOffset equal the eager masks at (seed, base + offset); the Generator's bookkeeping makes replay k draw the offsets
eager step k draws; the launchers pass the state array only under capture; misuse raises.
"""
import pickle

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import random as tgr
from tensorgrad.backend import capture, reference as R
from tensorgrad.backend.capture import GraphOffset

SEED = 0x0123456789ABCDEF


def _state(seed, base):
    return np.array([seed, base], dtype=np.uint64)


@pytest.mark.parametrize("base,delta", [(0, 0), (5, 3), (2 ** 33 + 7, 11), (2 ** 64 - 2, 1)])
def test_reference_masks_read_the_graph_state(base, delta):
    st = _state(SEED, base)
    eager = (base + delta) % 2 ** 64
    for p in (0.1, 0.5, 0.9):
        want = R.attention_dropout_keep(np, 6, 9, 13, p, SEED, eager)
        got = R.attention_dropout_keep(np, 6, 9, 13, p, 0, GraphOffset(delta, st))  # seed comes from the state
        np.testing.assert_array_equal(got, want)
        assert 0 < want.mean() < 1
        np.testing.assert_array_equal(R.elem_dropout_keep(np, 1001, p, 0, GraphOffset(delta, st)),
                                      R.elem_dropout_keep(np, 1001, p, SEED, eager))
    # another base in the same state array gives another mask: the state is read, not the argument
    other = R.elem_dropout_keep(np, 1001, 0.5, 0, GraphOffset(delta, _state(SEED, base + 1)))
    assert not np.array_equal(other, R.elem_dropout_keep(np, 1001, 0.5, SEED, eager))


def test_reference_ops_under_graph_offset_match_eager():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 10, 8)) for _ in range(3))
    st = _state(SEED, 40)
    out_e, lse_e = R.attention_forward(q, k, v, True, 0.3, 0.25, SEED, 42)
    out_g, lse_g = R.attention_forward(q, k, v, True, 0.3, 0.25, 0, GraphOffset(2, st))
    np.testing.assert_array_equal(out_g, out_e)
    np.testing.assert_array_equal(lse_g, lse_e)
    dout = rng.standard_normal(out_e.shape)
    for a, b in zip(R.attention_backward(dout, q, k, v, out_e, lse_e, True, 0.3, 0.25, SEED, 42),
                    R.attention_backward(dout, q, k, v, out_g, lse_g, True, 0.3, 0.25, 0, GraphOffset(2, st))):
        np.testing.assert_array_equal(a, b)
    x, h, b = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    np.testing.assert_array_equal(R.bias_dropout_add_forward(x, h, b, 0.3, 0, GraphOffset(2, st)),
                                  R.bias_dropout_add_forward(x, h, b, 0.3, SEED, 42))


def _fake_capture(gen, monkeypatch):
    """The Generator's side of a capture with NumPy standing in for CuPy: the prologue's kernel writes the state."""
    def set_state(seed, offset, state, size):
        assert size == 1
        state[0], state[1] = seed, offset
    compiled = []
    kernels = {k + "_graph": (lambda k: lambda *a: compiled.append(k))(k) for k in ("uniform", "normal", "integers")}
    monkeypatch.setattr(tgr, "_philox_kernels", lambda cp: dict(kernels, set_state=set_state))
    gen._capture_begin(np)
    # the draw kernels a capture may launch are compiled (run once) before it starts
    assert sorted(set(compiled)) == ["integers", "normal", "uniform"]


def test_generator_bookkeeping_replays_draw_the_eager_offsets(monkeypatch):
    draws_per_step, warmup, replays = 3, 2, 4
    eager = tg.Generator(seed=SEED)
    want = [eager.philox_seed_offset() for _ in range((warmup + replays) * draws_per_step)]

    gen = tg.Generator(seed=SEED)
    got = [gen.philox_seed_offset() for _ in range(warmup * draws_per_step)]   # eager warm-up steps
    _fake_capture(gen, monkeypatch)
    captured = [gen.philox_seed_offset()[1] for _ in range(draws_per_step)]
    assert all(isinstance(o, GraphOffset) for o in captured) and list(map(int, captured)) == [0, 1, 2]
    state, consumed = gen._capture_end()
    assert consumed == draws_per_step and gen.get_state()["cuda"] == warmup * draws_per_step  # capture drew nothing
    for _ in range(replays):
        gen._replay_prologue(np, state, consumed)          # what CUDAGraph.replay runs before each launch
        got += [(int(state[0]), int(state[1]) + int(o)) for o in captured]
    assert got == want
    assert gen.philox_seed_offset() == eager.philox_seed_offset()   # eager draws after the replays continue


def test_checkpoint_style_state_restore_inside_capture(monkeypatch):
    gen = tg.Generator(seed=3)
    gen.philox_seed_offset()
    _fake_capture(gen, monkeypatch)
    s = gen.get_state()
    first = [int(gen.philox_seed_offset()[1]) for _ in range(2)]
    gen.set_state(s)                                      # checkpoint's recompute replays the same draws
    assert [int(gen.philox_seed_offset()[1]) for _ in range(2)] == first == [0, 1]
    with pytest.raises(RuntimeError, match="manual_seed inside a CUDA graph capture"):
        gen.manual_seed(4)
    with pytest.raises(RuntimeError, match="already used by a capture"):
        gen._capture_begin(np)
    gen._capture_end()
    gen.manual_seed(4)                                    # fine again once the capture ended


def test_unregistered_generator_refuses_to_draw_during_capture():
    gen = tg.Generator(seed=1)
    capture.begin(object())
    try:
        with pytest.raises(RuntimeError, match="Generator the graph does not know.*register_generator_state"):
            gen.philox_seed_offset()
    finally:
        capture.end()
    assert gen.philox_seed_offset() == (1, 0)             # the refused draw consumed nothing


def test_graph_offset_is_an_int_that_pickles_plain():
    st = _state(1, 2)
    o = GraphOffset(7, st)
    assert o == 7 and o + 1 == 8 and type(o + 1) is int and o.state is st
    back = pickle.loads(pickle.dumps(o))
    assert back == 7 and type(back) is int
    with pytest.raises(RuntimeError, match="before the captured step's first draw"):
        GraphOffset(-1, st)


def test_cuda_launcher_passes_the_state_only_under_capture():
    from tensorgrad.backend import cuda as kc
    st = _state(SEED, 9)
    scale, thr, seed, off, ptr = kc._dropout_args(0.25, SEED, 12)
    assert (seed, off, int(ptr), int(thr), float(scale)) == (SEED, 12, 0, 2 ** 22, np.float32(1 / 0.75))
    *_, off, ptr = kc._dropout_args(0.25, 0, GraphOffset(3, st))
    assert off == 3 and ptr is st
    assert int(kc._dropout_args(0.0, 0, GraphOffset(3, st))[-1]) == 0   # no dropout, nothing to read


def test_cuda_graph_register_generator_state_checks_its_argument():
    g = tg.cuda.CUDAGraph()
    with pytest.raises(TypeError, match="tensorgrad Generator"):
        g.register_generator_state(np.random.default_rng(0))
    gen = tg.Generator(seed=2)
    g.register_generator_state(gen)
    g.register_generator_state(gen)
    assert g._generators.count(gen) == 1 and g._generators[0] is tg.random.default_generator
