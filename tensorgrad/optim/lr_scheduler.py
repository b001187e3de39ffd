"""torch.optim.lr_scheduler's namespace: the schedulers of schedulers.py and the cyclic ones of cyclic_lr.py."""
from .schedulers import (LRScheduler, _LRScheduler, LambdaLR, MultiplicativeLR, StepLR, CosineAnnealingLR,  # noqa: F401
                         MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR, SequentialLR,
                         ChainedScheduler, ReduceLROnPlateau, get_lr, WarmupCosineLR)
from .cyclic_lr import CosineAnnealingWarmRestarts, OneCycleLR, CyclicLR  # noqa: F401
