"""CTCLoss (the connectionist temporal classification loss of speech and handwriting recognition; the op is
ops/ctc.py) and NLLLoss2d, torch's deprecated name for NLLLoss on (N, C, H, W) inputs."""
import warnings

from ..ops.ctc import ctc_loss
from .losses import _Loss, NLLLoss


class CTCLoss(_Loss):
    """forward(log_probs (T, N, C) or (T, C), targets, input_lengths, target_lengths) as F.ctc_loss."""

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction,
                        self.zero_infinity)


class NLLLoss2d(NLLLoss):
    """Deprecated in torch for NLLLoss, which takes the (N, C, H, W) input itself; kept so old code runs."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and see "
                      "https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.", FutureWarning,
                      stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
