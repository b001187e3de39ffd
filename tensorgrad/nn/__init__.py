"""tensorgrad.nn: Module, Parameter, layers, activations, losses, containers, init, functional, utils (PyTorch's
names)."""
from . import functional, init, utils
from .module import Module, Parameter
from .pool import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d,
                   AdaptiveMaxPool2d)
from .norm import (BatchNorm1d, BatchNorm2d, InstanceNorm1d, InstanceNorm2d, GroupNorm, LocalResponseNorm, Dropout1d,
                   Dropout2d)
from .layers import (Identity, Linear, Embedding, LayerNorm, RMSNorm, Dropout, Flatten, Unflatten, CosineSimilarity,
                     PairwiseDistance, Sequential, ModuleList, ModuleDict, ParameterList)
from .activations import (ReLU, PReLU, LeakyReLU, ELU, CELU, SELU, GELU, SiLU, Mish, Softplus, Hardtanh, ReLU6, Hardsigmoid,
                          Hardswish, Tanh, Sigmoid, LogSigmoid, Softsign, GLU, Softmax, LogSoftmax)
from .losses import (L1Loss, MSELoss, SmoothL1Loss, HuberLoss, KLDivLoss, NLLLoss, CrossEntropyLoss, BCELoss,
                     BCEWithLogitsLoss)
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Unfold, Fold
from .conv import Conv3d, ConvTranspose3d
from .pool import (MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d, LPPool1d, LPPool2d, LPPool3d,
                   MaxUnpool1d, MaxUnpool2d, MaxUnpool3d, FractionalMaxPool2d, FractionalMaxPool3d)
from .norm import BatchNorm3d, InstanceNorm3d, Dropout3d
from .resample import (Upsample, UpsamplingNearest2d, UpsamplingBilinear2d, PixelShuffle, PixelUnshuffle,
                       ConstantPad1d, ConstantPad2d, ConstantPad3d, ZeroPad1d, ZeroPad2d, ZeroPad3d, ReflectionPad1d,
                       ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d,
                       CircularPad1d, CircularPad2d, CircularPad3d)
from .rnn import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell
from .transformer import (MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer,
                          TransformerEncoder, TransformerDecoder, Transformer)
from . import parameter
from .buffer import Buffer
from .activations_extra import (Softmin, Softshrink, Hardshrink, Tanhshrink, Threshold, RReLU, Softmax2d,
                                AlphaDropout, FeatureAlphaDropout, ChannelShuffle)
from .losses_extra import (MarginRankingLoss, HingeEmbeddingLoss, CosineEmbeddingLoss, SoftMarginLoss,
                           MultiLabelSoftMarginLoss, MultiLabelMarginLoss, MultiMarginLoss, TripletMarginLoss,
                           TripletMarginWithDistanceLoss, PoissonNLLLoss, GaussianNLLLoss)
from .layers_extra import Bilinear, EmbeddingBag, ParameterDict
from .lazy import UninitializedParameter, LazyLinear, LazyConv1d, LazyConv2d, LazyConv3d
from .data_parallel import DataParallel, SyncBatchNorm
from .losses_ctc import CTCLoss, NLLLoss2d
from .adaptive import AdaptiveLogSoftmaxWithLoss
from .lazy_extra import (UninitializedBuffer, LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyInstanceNorm1d,
                         LazyInstanceNorm2d, LazyInstanceNorm3d, LazyConvTranspose1d, LazyConvTranspose2d,
                         LazyConvTranspose3d)
from .legacy_modules import CrossMapLRN2d, Container
from . import attention

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Identity", "Linear", "Embedding", "LayerNorm",
           "RMSNorm", "Dropout", "Flatten", "Unflatten", "CosineSimilarity", "PairwiseDistance", "Sequential",
           "ModuleList", "ModuleDict", "ParameterList", "ReLU", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "SiLU",
           "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish", "Tanh", "Sigmoid", "LogSigmoid",
           "Softsign", "GLU", "Softmax", "LogSoftmax", "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "KLDivLoss",
           "NLLLoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss"]
__all__ += ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
            "TransformerDecoder", "Transformer"]
__all__ += ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Unfold", "Fold"]
__all__ += ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
            "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "BatchNorm1d", "BatchNorm2d", "InstanceNorm1d",
            "InstanceNorm2d", "GroupNorm", "LocalResponseNorm", "Dropout1d", "Dropout2d"]
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
__all__ += ["PReLU", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle",
            "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
            "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
            "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d"]
__all__ += ["Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
            "LPPool1d", "LPPool2d", "LPPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
            "FractionalMaxPool3d", "BatchNorm3d", "InstanceNorm3d", "Dropout3d"]
__all__ += ["Buffer", "Softmin", "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "RReLU", "Softmax2d",
            "AlphaDropout", "FeatureAlphaDropout", "ChannelShuffle", "MarginRankingLoss", "HingeEmbeddingLoss",
            "CosineEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiLabelMarginLoss",
            "MultiMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss", "PoissonNLLLoss",
            "GaussianNLLLoss", "Bilinear", "EmbeddingBag", "ParameterDict", "UninitializedParameter", "LazyLinear",
            "LazyConv1d", "LazyConv2d", "LazyConv3d"]
__all__ += ["DataParallel", "SyncBatchNorm"]
__all__ += ["CTCLoss", "NLLLoss2d", "AdaptiveLogSoftmaxWithLoss", "UninitializedBuffer", "LazyBatchNorm1d",
            "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
            "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d", "CrossMapLRN2d", "Container"]
