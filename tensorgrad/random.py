"""Random number generation: Generator objects (PCG64 on the CPU; CuPy's generator on CUDA) and the default one."""
import numpy as np

from .backend import as_device, get_xp


class Generator:
    """A seedable source of randomness. get_state()/set_state() snapshot it (checkpointing replays dropout)."""

    def __init__(self, device="cpu", seed=None):
        self.device = as_device(device)
        self.manual_seed(np.random.SeedSequence().entropy % (2 ** 63) if seed is None else seed)

    def manual_seed(self, seed):
        seed = int(seed)
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        self._cp = None  # created lazily, seeded from the same seed
        return self

    def initial_seed(self):
        return self._seed

    def _gen(self, device):
        if as_device(device).type == "cpu":
            return self._np
        if self._cp is None:
            cp = get_xp(device)
            self._cp = cp.random.default_rng(self._seed)
        return self._cp

    def get_state(self):
        st = {"seed": self._seed, "cpu": self._np.bit_generator.state}
        if self._cp is not None:
            st["cuda"] = self._cp.bit_generator.state if hasattr(self._cp.bit_generator, "state") else None
        return st

    def set_state(self, state):
        self._seed = state["seed"]
        self._np.bit_generator.state = state["cpu"]
        if state.get("cuda") is not None and self._cp is not None:
            self._cp.bit_generator.state = state["cuda"]

    # raw draws (xp arrays) used by factories and dropout
    def normal(self, shape, dtype=np.float32, device="cpu"):
        g = self._gen(device)
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return g.standard_normal(shape, dtype=dt)
        return g.standard_normal(shape, dtype=np.float32).astype(dt)

    def random(self, shape, dtype=np.float32, device="cpu"):
        g = self._gen(device)
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return g.random(shape, dtype=dt)
        return g.random(shape, dtype=np.float32).astype(dt)

    def integers(self, low, high, shape, dtype=np.int64, device="cpu"):
        return self._gen(device).integers(low, high, size=shape, dtype=dtype)


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
