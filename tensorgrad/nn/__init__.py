"""tensorgrad.nn: Module, Parameter, layers, activations, losses, containers, init, functional, utils (PyTorch's
names)."""
from . import functional, init, utils
from .module import Module, Parameter
from .layers import (Identity, Linear, Embedding, LayerNorm, RMSNorm, Dropout, Flatten, Unflatten, CosineSimilarity,
                     PairwiseDistance, Sequential, ModuleList, ModuleDict, ParameterList)
from .activations import (ReLU, LeakyReLU, ELU, CELU, SELU, GELU, SiLU, Mish, Softplus, Hardtanh, ReLU6, Hardsigmoid,
                          Hardswish, Tanh, Sigmoid, LogSigmoid, Softsign, GLU, Softmax, LogSoftmax)
from .losses import (L1Loss, MSELoss, SmoothL1Loss, HuberLoss, KLDivLoss, NLLLoss, CrossEntropyLoss, BCELoss,
                     BCEWithLogitsLoss)
from .transformer import (MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer,
                          TransformerEncoder, TransformerDecoder, Transformer)

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Identity", "Linear", "Embedding", "LayerNorm",
           "RMSNorm", "Dropout", "Flatten", "Unflatten", "CosineSimilarity", "PairwiseDistance", "Sequential",
           "ModuleList", "ModuleDict", "ParameterList", "ReLU", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "SiLU",
           "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Tanh", "Sigmoid", "LogSigmoid",
           "Softsign", "GLU", "Softmax", "LogSoftmax", "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
           "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss"]
__all__ += ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
            "TransformerDecoder", "Transformer"]
