"""tensorgrad.optim: Optimizer, SGD, Adam, AdamW and lr_scheduler (PyTorch's API)."""
from . import lr_scheduler
from .optimizer import Optimizer
from .sgd import SGD
from .adam import Adam, AdamW

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
