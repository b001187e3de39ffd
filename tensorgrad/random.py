"""Random number generation: Generator objects (PCG64 on the CPU; counter-based Philox draws on CUDA) and the default one."""
import numpy as np

from .backend import as_device, get_xp

# At most this many cuRAND states per CUDA draw (CuPy's kernels stride over the output when it is larger).
_MAX_CUDA_STATES = 1 << 16


class Generator:
    """A seedable source of randomness. get_state()/set_state() snapshot it (checkpointing replays dropout).

    CPU draws come from one numpy PCG64 stream. CUDA draws are counter-based: draw number ``offset`` (counted on
    the host) uses a fresh CuPy Philox4x32-10 generator seeded from SeedSequence([seed, offset]), so the whole
    CUDA state is the pair (seed, offset): saved and restored exactly, with no read of device memory."""

    def __init__(self, device="cpu", seed=None):
        self.device = as_device(device)
        self.manual_seed(np.random.SeedSequence().entropy % (2 ** 63) if seed is None else seed)

    def manual_seed(self, seed):
        seed = int(seed)
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        self._cuda_offset = 0  # CUDA draws made since seeding (see the class docstring)
        return self

    def initial_seed(self):
        return self._seed

    def _gen(self, device, n=1):
        """The generator for one draw of ``n`` values on ``device`` (on CUDA, a new one per draw)."""
        device = as_device(device)
        if device.type == "cpu":
            return self._np
        cp = get_xp(device)
        seq = np.random.SeedSequence([self._seed, self._cuda_offset])
        self._cuda_offset += 1
        with cp.cuda.Device(device.index):
            return cp.random.Generator(cp.random.Philox4x3210(seq, size=max(1, min(int(n), _MAX_CUDA_STATES))))

    def get_state(self):
        return {"seed": self._seed, "cpu": self._np.bit_generator.state, "cuda": self._cuda_offset}

    def set_state(self, state):
        self._seed = state["seed"]
        self._np.bit_generator.state = state["cpu"]
        self._cuda_offset = int(state.get("cuda") or 0)

    # raw draws (xp arrays) used by factories and dropout
    def normal(self, shape, dtype=np.float32, device="cpu"):
        g = self._gen(device, _numel(shape))
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return g.standard_normal(shape, dtype=dt)
        return g.standard_normal(shape, dtype=np.float32).astype(dt)

    def random(self, shape, dtype=np.float32, device="cpu"):
        g = self._gen(device, _numel(shape))
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return g.random(shape, dtype=dt)
        return g.random(shape, dtype=np.float32).astype(dt)

    def integers(self, low, high, shape, dtype=np.int64, device="cpu"):
        return self._gen(device, _numel(shape)).integers(low, high, size=shape, dtype=dtype)


def _numel(shape):
    return int(np.prod(shape, dtype=np.int64)) if isinstance(shape, (tuple, list)) else int(shape)


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
