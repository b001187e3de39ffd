"""torch.backends.cpu: the CPU path is NumPy (and tensorgrad._C's kernels)."""
import numpy as np


def get_cpu_capability():
    """The highest SIMD extension NumPy's build found on this CPU, in torch's spelling ('AVX512', 'AVX2',
    'DEFAULT')."""
    found = getattr(np._core._multiarray_umath, "__cpu_features__", {}) if hasattr(np, "_core") else {}
    if found.get("AVX512F"):
        return "AVX512"
    if found.get("AVX2"):
        return "AVX2"
    return "DEFAULT"
