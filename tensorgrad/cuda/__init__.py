"""CUDA-only helpers on top of CuPy: graph capture of whole training steps (tensorgrad.cuda.graphs).

Imports without CuPy; everything that needs it asks for it when called."""
from .graphs import CUDAGraph, GraphedStep, graph, is_capturing, keep_alive

__all__ = ["CUDAGraph", "GraphedStep", "graph", "is_capturing", "keep_alive"]
