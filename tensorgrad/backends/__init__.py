"""tensorgrad.backends: the switches PyTorch scripts set through torch.backends (TF32, cuDNN, MPS, SDPA kernels).

A switch takes effect where tensorgrad has the feature: backends.cuda.matmul.allow_tf32 (and
set_float32_matmul_precision) sets cuBLAS's float32 compute type through CuPy. Where tensorgrad has no such
feature (it uses no cuDNN; its attention picks its own kernel) the value is stored, reads back as set, and changes
nothing; each module's docstring says which is which.
"""
from . import cpu, cuda, cudnn, mps
from .cuda import get_float32_matmul_precision, set_float32_matmul_precision

__all__ = ["cpu", "cuda", "cudnn", "mps", "get_float32_matmul_precision", "set_float32_matmul_precision"]
