"""Generator state round trips (CPU), and the CUDA side's counter-based (seed, offset) bookkeeping, checked on the
CPU with a stand-in for CuPy's random module (the real CUDA draws are covered by tests/test_ops_cuda.py)."""
import contextlib
import types

import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.random as tr


def test_cpu_state_round_trip_on_a_generator():
    g = tg.Generator(seed=11)
    g.normal((3,))
    st = g.get_state()
    a, b = g.random((5,)), g.integers(0, 50, (4,))
    g.set_state(st)
    np.testing.assert_array_equal(g.random((5,)), a)
    np.testing.assert_array_equal(g.integers(0, 50, (4,)), b)


class _FakeCupy:
    """Just enough of cupy for Generator._gen: each Philox generator draws numpy values from its seed sequence."""

    def __init__(self):
        self.made = []  # (seed-sequence entropy, size) per generator built
        fake = self

        class Philox4x3210:
            def __init__(self, seq, size=-1):
                assert isinstance(seq, np.random.SeedSequence)
                self.seq, self.size = seq, size
                fake.made.append((tuple(np.atleast_1d(seq.entropy)), size))

        class Generator:
            def __init__(self, bit_generator):
                self._rng = np.random.default_rng(bit_generator.seq)

            def random(self, shape, dtype=np.float64):
                return self._rng.random(shape, dtype=dtype)

            def standard_normal(self, shape, dtype=np.float64):
                return self._rng.standard_normal(shape, dtype=dtype)

            def integers(self, low, high, size=None, dtype=np.int64):
                return self._rng.integers(low, high, size=size, dtype=dtype)

        self.random = types.SimpleNamespace(Philox4x3210=Philox4x3210, Generator=Generator)
        self.cuda = types.SimpleNamespace(Device=lambda index=None: contextlib.nullcontext())


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setattr(tr, "get_xp", lambda device: fake)
    return fake


def test_cuda_state_is_seed_and_offset_and_replays(fake_cuda):
    g = tg.Generator(seed=5)
    g.random((8,), device="cuda")
    st = g.get_state()
    assert st["seed"] == 5 and st["cuda"] == 1
    a = g.random((8,), device="cuda")
    n = g.normal((2, 3), device="cuda")
    i = g.integers(0, 10, (6,), device="cuda")
    assert g.get_state()["cuda"] == 4
    assert not np.array_equal(a, g.random((8,), device="cuda"))  # each draw gets its own stream
    g.set_state(st)
    np.testing.assert_array_equal(g.random((8,), device="cuda"), a)
    np.testing.assert_array_equal(g.normal((2, 3), device="cuda"), n)
    np.testing.assert_array_equal(g.integers(0, 10, (6,), device="cuda"), i)
    # each draw's generator came from SeedSequence([seed, offset]), with one state per value (at least one)
    assert [e for e, _ in fake_cuda.made[:5]] == [(5, 0), (5, 1), (5, 2), (5, 3), (5, 4)]
    assert [s for _, s in fake_cuda.made[:4]] == [8, 8, 6, 6]


def test_cuda_state_survives_a_state_saved_before_any_cuda_draw(fake_cuda):
    """The old CuPy-generator state was only saved once the generator existed; the offset always is."""
    g = tg.Generator(seed=3)
    st = g.get_state()
    a = g.random((4,), device="cuda")
    g.set_state(st)
    np.testing.assert_array_equal(g.random((4,), device="cuda"), a)


def test_manual_seed_restarts_the_cuda_stream_and_cpu_draws_leave_it(fake_cuda):
    g = tg.Generator(seed=7)
    a = g.random((3,), device="cuda")
    g.random((3,))  # a CPU draw does not move the CUDA offset
    assert g.get_state()["cuda"] == 1
    g.manual_seed(7)
    np.testing.assert_array_equal(g.random((3,), device="cuda"), a)
    g.manual_seed(8)
    assert not np.array_equal(g.random((3,), device="cuda"), a)


def test_cuda_state_sizes_are_bounded(fake_cuda):
    g = tg.Generator(seed=1)
    g.random((), device="cuda")
    g.random((0, 4), device="cuda")
    g.random((1 << 20,), device="cuda")
    assert [s for _, s in fake_cuda.made] == [1, 1, tr._MAX_CUDA_STATES]


def test_checkpoint_restores_the_cuda_offset(fake_cuda):
    """checkpoint saves get_state() in forward and replays it in backward: the CUDA offset must come along."""
    seen = []

    def fn(t):
        seen.append(tr.default_generator.get_state()["cuda"])
        tr.default_generator.random((4,), device="cuda")  # a stand-in CUDA draw (e.g. a dropout mask)
        return t * 2.0

    tg.manual_seed(0)
    x = tg.randn(4, requires_grad=True)
    y = tg.checkpoint(fn, x)
    after = tr.default_generator.get_state()["cuda"]
    y.sum().backward()
    assert seen == [0, 0]  # the recompute started from the same offset as forward
    assert tr.default_generator.get_state()["cuda"] == after  # and the state afterwards is the caller's again
