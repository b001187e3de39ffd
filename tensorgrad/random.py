"""Random number generation: Generator objects (PCG64 on the CPU; counter-based Philox on CUDA) and the default one."""
import contextlib

import numpy as np

from .backend import as_device, get_xp
from .backend import capture as _capture


class Generator:
    """A seedable source of randomness. get_state()/set_state() snapshot it (checkpointing replays dropout).

    CPU draws come from one numpy PCG64 stream. CUDA draws are counter-based, with no generator state on the
    device: draw number ``offset`` (counted on the host) fills element i with Philox4x32-10(key=seed,
    counter=(i, offset)) (see _philox_kernels). So the whole CUDA state is the pair (seed, offset), saved and
    restored exactly, and a draw is one kernel launch: no allocation besides the output, no host synchronisation."""

    def __init__(self, device="cpu", seed=None):
        self.device = as_device(device)
        self._graph = None  # (device state array, offset at capture start) while a CUDA graph capture uses this one
        self.manual_seed(np.random.SeedSequence().entropy % (2 ** 63) if seed is None else seed)

    def manual_seed(self, seed):
        self._check_not_captured("manual_seed")
        seed = int(seed)
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        self._cuda_offset = 0  # CUDA draws made since seeding (see the class docstring)
        return self

    def initial_seed(self):
        return self._seed

    def _gen(self, device):
        return self._np  # the CPU stream (CUDA draws go through _cuda)

    def _cuda(self, kind, shape, dtype, device, *args):
        """One CUDA draw: a new array of ``shape``/``dtype`` filled by the Philox kernel ``kind``."""
        cp = get_xp(device)
        seed, offset = self.philox_seed_offset()
        with cp.cuda.Device(as_device(device).index):
            out = cp.empty(shape, dtype=dtype)
            if out.size:
                if isinstance(offset, _capture.GraphOffset):  # read (seed, base) from the graph's device state
                    _philox_kernels(cp)[kind + "_graph"](offset.state, np.uint64(offset), *args, out)
                else:
                    _philox_kernels(cp)[kind](np.uint64(seed), np.uint64(offset), *args, out)
        return out

    def philox_seed_offset(self):
        """(seed, offset) of one counter-based Philox draw made inside a fused kernel (attention dropout, CPU and CUDA
        alike): the kernel fills element n from Philox4x32-10(key=seed, counter=(n, offset)), as the CUDA draws here
        (csrc/common/philox.h). It is one draw of the offset counter, so the next call gets a fresh stream, and
        get_state()/set_state() (checkpoint's replay) reproduce the pair exactly. While a CUDA graph captures with
        this generator, the offset is a GraphOffset (backend/capture.py) that replays resolve on the device."""
        if self._graph is None and _capture.is_capturing():
            raise RuntimeError(
                "random draw inside a CUDA graph capture from a Generator the graph does not know: its (seed, offset) "
                "would be frozen into the graph and every replay would repeat one draw; use the default generator "
                "or call graph.register_generator_state(generator) before capturing")
        offset = self._cuda_offset
        self._cuda_offset += 1
        if self._graph is not None:
            return self._seed % 2 ** 64, _capture.GraphOffset(offset - self._graph[1], self._graph[0])
        return self._seed % 2 ** 64, offset

    # CUDA graph capture (tensorgrad.cuda.graphs.CUDAGraph): draws made while capturing read (seed, base offset) from
    # a device array that each replay's prologue rewrites, then the host counter advances by what the step consumed.
    def _capture_begin(self, cp):
        if self._graph is not None:
            raise RuntimeError("CUDA graph capture: this Generator is already used by a capture in progress")
        state = cp.zeros(2, dtype=cp.uint64)
        _compile_graph_draws(cp, state)
        self._graph = (state, self._cuda_offset)

    def _capture_end(self):
        """Ends this generator's part in a capture: returns (device state, offsets the captured step consumes). The
        counter goes back to where the capture began: the first replay makes the step's first real draws."""
        state, base = self._graph
        self._graph = None
        consumed, self._cuda_offset = self._cuda_offset - base, base
        return state, consumed

    def _replay_prologue(self, cp, state, consumed):
        """Before a replay: write this replay's (seed, base offset) into the graph's state with a kernel on the
        current stream (ordered before the graph, no host synchronisation), then advance the counter."""
        _philox_kernels(cp)["set_state"](np.uint64(self._seed % 2 ** 64), np.uint64(self._cuda_offset), state,
                                         size=1)
        self._cuda_offset += consumed

    def _check_not_captured(self, what):
        if getattr(self, "_graph", None) is not None:
            raise RuntimeError(f"Generator.{what} inside a CUDA graph capture that draws from this generator: the "
                               "captured step's offsets count from the capture's start; reseed before capturing")

    def get_state(self):
        return {"seed": self._seed, "cpu": self._np.bit_generator.state, "cuda": self._cuda_offset}

    def set_state(self, state):
        if self._graph is not None and state["seed"] != self._seed:
            self._check_not_captured("set_state (to another seed)")
        self._seed = state["seed"]
        self._np.bit_generator.state = state["cpu"]
        self._cuda_offset = int(state.get("cuda") or 0)

    # raw draws (xp arrays) used by factories and dropout
    def _float_draw(self, cpu_draw, cuda_kind, shape, dtype, device):
        """float32/float64 are drawn directly; other float dtypes are drawn in float32 and cast; a complex dtype's
        real and imaginary parts are independent draws of its part dtype (the real parts first), as torch's."""
        dt = np.dtype(dtype)
        if dt.kind == "c":
            parts = self._float_draw(cpu_draw, cuda_kind, tuple(shape) + (2,), np.float32 if dt == np.complex64
                                     else np.float64, device)
            return (parts[..., 0] + 1j * parts[..., 1]).astype(dt, copy=False)
        wd = dt if dt in (np.float32, np.float64) else np.dtype(np.float32)
        if as_device(device).type == "cpu":
            out = cpu_draw(shape, dtype=wd)
        else:
            out = self._cuda(cuda_kind, shape, wd, device)
        return out if wd == dt else out.astype(dt)

    def normal(self, shape, dtype=np.float32, device="cpu"):
        return self._float_draw(self._np.standard_normal, "normal", shape, dtype, device)

    def random(self, shape, dtype=np.float32, device="cpu"):
        return self._float_draw(self._np.random, "uniform", shape, dtype, device)

    def integers(self, low, high, shape, dtype=np.int64, device="cpu"):
        if as_device(device).type == "cpu":
            return self._np.integers(low, high, size=shape, dtype=dtype)
        low, high = int(low), int(high)
        if high <= low:
            raise ValueError(f"integers: high ({high}) must be greater than low ({low})")
        out = self._cuda("integers", shape, np.int64, device, np.int64(low), np.uint64(high - low))
        return out if np.dtype(dtype) == np.int64 else out.astype(dtype)

    def permutation(self, n, device="cpu"):
        """A random int64 permutation of range(n) (randperm, the data samplers): numpy's shuffle on the CPU; on
        CUDA the stable argsort of one draw of n Philox uniforms, so it is one draw like any other (equal keys,
        odds about n**2 / 2**54, only bias the order, never break the permutation)."""
        if as_device(device).type == "cpu":
            return self._np.permutation(n).astype(np.int64, copy=False)
        cp = get_xp(device)
        keys = self._cuda("uniform", (n,), np.float64, device)
        with cp.cuda.Device(as_device(device).index):
            return cp.argsort(keys).astype(np.int64, copy=False)


_PHILOX = r"""
__device__ __forceinline__ void tg_philox(unsigned long long seed, unsigned long long offset, unsigned long long idx,
                                          unsigned int w[4]) {
    // Philox4x32-10 (Salmon et al., SC'11; Random123): counter (idx, offset), key seed.
    unsigned int c0 = (unsigned int)idx, c1 = (unsigned int)(idx >> 32);
    unsigned int c2 = (unsigned int)offset, c3 = (unsigned int)(offset >> 32);
    unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
    #pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned int hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
    }
    w[0] = c0; w[1] = c1; w[2] = c2; w[3] = c3;
}
// [0, 1) with 53 random bits (numpy's construction) and with 24 (exact in float32).
__device__ __forceinline__ double tg_u53(unsigned int a, unsigned int b) {
    return ((a >> 5) * 67108864.0 + (b >> 6)) * (1.0 / 9007199254740992.0);
}
__device__ __forceinline__ float tg_u24(unsigned int a) { return (a >> 8) * (1.0f / 16777216.0f); }
"""

_kernels = {}


_DRAWS = {  # kind: (extra parameters, output, body after w[4] is filled)
    "uniform": ("", "T y", "y = sizeof(T) == 4 ? (T)tg_u24(w[0]) : (T)tg_u53(w[0], w[1]);"),
    "normal": ("", "T y",  # Box-Muller on two 53-bit uniforms; u1 in (0, 1]
               "double u1 = 1.0 - tg_u53(w[0], w[1]), u2 = tg_u53(w[2], w[3]);"
               "y = (T)(sqrt(-2.0 * log(u1)) * cospi(2.0 * u2));"),
    "integers": (", int64 low, uint64 span", "int64 y",  # low + (64 random bits mod span): bias <= span / 2**64
                 "y = low + (long long)((((unsigned long long)w[0] << 32) | w[1]) % span);"),
}


def _philox_kernels(cp):
    """The CUDA draws (compiled once, on first use): element i of draw ``offset`` uses counter (i, offset). Each kind
    has a ``_graph`` twin for CUDA graph capture that reads (seed, base) from a device array and adds its offset."""
    if not _kernels:
        ek = cp.ElementwiseKernel
        for kind, (params, out, body) in _DRAWS.items():
            _kernels[kind] = ek("uint64 seed, uint64 offset" + params, out,
                                "unsigned int w[4]; tg_philox(seed, offset, i, w);" + body,
                                "tensorgrad_philox_" + kind, preamble=_PHILOX)
            _kernels[kind + "_graph"] = ek(
                "raw uint64 state, uint64 delta" + params, out,
                "unsigned int w[4]; tg_philox(state[0], state[1] + delta, i, w);" + body,
                "tensorgrad_philox_graph_" + kind, preamble=_PHILOX)
        _kernels["set_state"] = ek("uint64 seed, uint64 offset", "raw uint64 state",
                                   "if (i == 0) { state[0] = seed; state[1] = offset; }",
                                   "tensorgrad_philox_set_state")
    return _kernels


def _compile_graph_draws(cp, state):
    """Compile (by running once, on one element) the _graph draw kernels and the replay prologue before a capture:
    the eager warm-up steps only ever compiled the eager kernels, and loading a module inside a capture is not
    something to count on."""
    ks = _philox_kernels(cp)
    for kind, dtypes in (("uniform", (cp.float32, cp.float64)), ("normal", (cp.float32, cp.float64))):
        for dt in dtypes:
            ks[kind + "_graph"](state, np.uint64(0), cp.empty(1, dtype=dt))
    ks["integers_graph"](state, np.uint64(0), np.int64(0), np.uint64(1), cp.empty(1, dtype=cp.int64))
    ks["set_state"](np.uint64(0), np.uint64(0), state, size=1)


default_generator = Generator(seed=0)


def manual_seed(seed):
    """Seed the default generator (CPU and CUDA streams); returns it, like torch.manual_seed."""
    return default_generator.manual_seed(seed)


def seed():
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    default_generator.manual_seed(s)
    return s


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """torch.random.fork_rng: the default generator's state (its CPU stream and its CUDA counter alike, so every
    device's) is restored on exit, whatever the block drew. devices and device_type are accepted for torch's
    signature: one generator serves all devices here."""
    if not enabled:
        yield
        return
    state = default_generator.get_state()
    try:
        yield
    finally:
        default_generator.set_state(state)
