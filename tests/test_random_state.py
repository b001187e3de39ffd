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


def philox_ref(seed, offset, idx):
    """Philox4x32-10 in numpy (uint64 arithmetic): counter (idx, offset), key seed -- the CUDA kernels' scheme."""
    m = np.uint64(0xFFFFFFFF)
    idx = np.asarray(idx, dtype=np.uint64)
    c0, c1 = idx & m, idx >> np.uint64(32)
    c2, c3 = np.full_like(idx, offset & 0xFFFFFFFF), np.full_like(idx, offset >> 32)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & m,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & m)
    return c0, c1, c2, c3


def _u53(a, b):
    return ((a >> np.uint64(5)).astype(np.float64) * 67108864.0 + (b >> np.uint64(6)).astype(np.float64)) / 2.0 ** 53


def draw_ref(kind, seed, offset, shape, dtype, *args):
    """What kernel ``kind`` of tensorgrad.random writes, computed in numpy."""
    n = int(np.prod(shape, dtype=np.int64))
    w = philox_ref(seed, offset, np.arange(n, dtype=np.uint64))
    dtype = np.dtype(dtype)
    if kind == "uniform":
        v = (w[0] >> np.uint64(8)).astype(np.float32) / np.float32(2 ** 24) if dtype == np.float32 else _u53(w[0], w[1])
    elif kind == "normal":
        v = np.sqrt(-2.0 * np.log(1.0 - _u53(w[0], w[1]))) * np.cos(2.0 * np.pi * _u53(w[2], w[3]))
    else:
        low, span = args
        v = (np.int64(low) + ((w[0] << np.uint64(32)) | w[1]) % np.uint64(span)).astype(np.int64)
    return v.astype(dtype).reshape(shape)


def test_philox_reference_matches_the_random123_known_answers():
    for seed, offset, idx, want in [
            (0, 0, 0, (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
            (2 ** 64 - 1, 2 ** 64 - 1, 2 ** 64 - 1, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
            (0x299f31d0a4093822, 0x0370734413198a2e, 0x85a308d3243f6a88, (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]:
        assert tuple(int(x[0]) for x in philox_ref(seed, offset, [idx])) == want


class _FakeCupy:
    """Just enough of cupy for Generator's CUDA draws: numpy arrays, kernels computed by draw_ref."""

    def __init__(self):
        self.launches = []  # (kind, seed, offset) per kernel launch
        fake = self

        def elementwise_kernel(in_params, out_params, body, name, preamble=""):
            kind = name.rsplit("_", 1)[1]

            def launch(seed, offset, *rest):
                *args, out = rest
                fake.launches.append((kind, int(seed), int(offset)))
                out[...] = draw_ref(kind, int(seed), int(offset), out.shape, out.dtype, *args)
                return out
            return launch

        self.empty = np.empty
        self.ElementwiseKernel = elementwise_kernel
        self.cuda = types.SimpleNamespace(Device=lambda index=None: contextlib.nullcontext())


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setattr(tr, "get_xp", lambda device: fake)
    monkeypatch.setattr(tr, "_kernels", {})
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
    # draw k used counter offset k under key 5
    assert [(s, o) for _, s, o in fake_cuda.launches[:5]] == [(5, 0), (5, 1), (5, 2), (5, 3), (5, 4)]


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


def test_cuda_draws_have_the_documented_distributions(fake_cuda):
    g = tg.Generator(seed=123)
    u32, u64 = g.random((20000,), device="cuda"), g.random((20000,), np.float64, device="cuda")
    assert u32.dtype == np.float32 and u64.dtype == np.float64
    for u in (u32, u64):
        assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01
    z = g.normal((20000,), np.float16, device="cuda")
    assert z.dtype == np.float16 and abs(z.astype(np.float64).mean()) < 0.03
    assert abs(z.astype(np.float64).std() - 1.0) < 0.03
    k = g.integers(-3, 4, (7000,), device="cuda")
    assert k.dtype == np.int64 and set(np.unique(k)) == set(range(-3, 4))
    assert g.random((), device="cuda").shape == () and g.random((0, 4), device="cuda").shape == (0, 4)
    assert len(fake_cuda.launches) == 5  # the empty draw launches nothing (but still counts as a draw)
    assert g.get_state()["cuda"] == 6
    with pytest.raises(ValueError):
        g.integers(3, 3, (2,), device="cuda")


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
