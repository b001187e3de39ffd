"""torch.backends.mps: tensorgrad has no Apple-GPU (Metal) device; it runs on NumPy (CPU) and CuPy (CUDA)."""


def is_available():
    return False


def is_built():
    return False
