"""tensorgrad.nn: Module, Parameter, layers, containers, init, functional, utils (PyTorch's names)."""
from . import functional, init, utils
from .module import Module, Parameter
from .layers import (Identity, Linear, Embedding, LayerNorm, Dropout, GELU, ReLU, Tanh, Sigmoid, SiLU, Softmax,
                     CrossEntropyLoss, MSELoss, Sequential, ModuleList, ModuleDict, ParameterList)

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Identity", "Linear", "Embedding", "LayerNorm",
           "Dropout", "GELU", "ReLU", "Tanh", "Sigmoid", "SiLU", "Softmax", "CrossEntropyLoss", "MSELoss",
           "Sequential", "ModuleList", "ModuleDict", "ParameterList"]
