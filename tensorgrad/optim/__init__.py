"""tensorgrad.optim: Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, LBFGS, Rprop, ASGD,
Adafactor, Muon, SparseAdam, lr_scheduler and swa_utils (PyTorch's API)."""
from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adamax import Adamax
from .nadam import NAdam
from .radam import RAdam
from .rmsprop import RMSprop
from .lbfgs import LBFGS
from .rprop import Rprop
from .asgd import ASGD
from .adafactor import Adafactor
from .muon import Muon
from .sparse_adam import SparseAdam
from . import swa_utils

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "RMSprop",
           "LBFGS", "lr_scheduler", "Rprop", "ASGD", "Adafactor", "Muon", "SparseAdam", "swa_utils"]
